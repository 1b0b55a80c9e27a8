"""Characters in the database: rows, tags and search terms kept together."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    RowMapping,
    and_,
    delete,
    exists,
    false,
    insert,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from serika.characters.model import Character, CharacterQuery
from serika.characters.terms import prefix_upper_bound, terms_for, words
from serika.db.tables import character_tags, character_terms, characters, users

_COLUMNS = [*characters.c, users.c.username.label("creator")]
RARE = 1000  # a filter matching at most this many characters is applied as an id list


def _to_character(row: RowMapping, tags: Sequence[str]) -> Character:
    return Character(
        id=row["id"],
        owner_id=row["owner_id"],
        creator=row["creator"],
        name=row["name"],
        description=row["description"],
        system_prompt=row["system_prompt"],
        personality=row["personality"],
        scenario=row["scenario"],
        starter_message=row["starter_message"],
        tags=tuple(tags),
        is_nsfw=bool(row["is_nsfw"]),
        is_public=bool(row["is_public"]),
        avatar=row["avatar"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _write_index(
    conn: AsyncConnection, character_id: str, values: Mapping[str, Any], tags: Sequence[str]
) -> None:
    await conn.execute(delete(character_tags).where(character_tags.c.character_id == character_id))
    await conn.execute(
        delete(character_terms).where(character_terms.c.character_id == character_id)
    )
    if tags:
        await conn.execute(
            insert(character_tags), [{"character_id": character_id, "tag": t} for t in tags]
        )
    terms = terms_for([values["name"], values["description"], *tags])
    if terms:
        await conn.execute(
            insert(character_terms), [{"character_id": character_id, "term": t} for t in terms]
        )


class CharacterStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def insert(self, values: Mapping[str, Any], tags: Sequence[str]) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(characters).values(**values))
            await _write_index(conn, values["id"], values, tags)

    async def update(
        self,
        character_id: str,
        owner_id: str,
        values: Mapping[str, Any],
        tags: Sequence[str] | None,
    ) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(characters)
                .where(characters.c.id == character_id, characters.c.owner_id == owner_id)
                .values(**values)
            )
            if result.rowcount != 1:
                return False
            row = (
                (
                    await conn.execute(
                        select(characters.c.name, characters.c.description).where(
                            characters.c.id == character_id
                        )
                    )
                )
                .mappings()
                .one()
            )
            if tags is None:
                tags = (
                    (
                        await conn.execute(
                            select(character_tags.c.tag)
                            .where(character_tags.c.character_id == character_id)
                            .order_by(character_tags.c.tag)
                        )
                    )
                    .scalars()
                    .all()
                )
            await _write_index(conn, character_id, dict(row), tags)
        return True

    async def delete(self, character_id: str, owner_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(characters).where(
                    characters.c.id == character_id, characters.c.owner_id == owner_id
                )
            )
            return result.rowcount == 1

    async def get(self, character_id: str) -> Character | None:
        query = (
            select(*_COLUMNS)
            .select_from(characters.join(users, users.c.id == characters.c.owner_id))
            .where(characters.c.id == character_id)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
            if row is None:
                return None
            tags = await self._tags(conn, [character_id])
        return _to_character(row, tags.get(character_id, []))

    async def search(self, query: CharacterQuery) -> list[Character]:
        """A page of characters, newest first: public ones plus the viewer's private ones.

        Each kind is read from its own index in (created_at, id) order, only as deep as the
        page needs, and the two are merged: no scan of the whole table however many there are.
        """
        probes = []
        if query.tag:
            probes.append((character_tags, character_tags.c.tag == query.tag))
        for word in dict.fromkeys(words(query.search)):
            term = character_terms.c.term
            probes.append((character_terms, and_(term >= word, term < prefix_upper_bound(word))))
        async with self._engine.connect() as conn:
            filters, nothing = await self._filters(conn, probes)
            if nothing:
                return []
            return await self._page(conn, query, filters)

    async def _filters(
        self, conn: AsyncConnection, probes: list[tuple[Any, Any]]
    ) -> tuple[list[Any], bool]:
        """A filter per tag or search word, shaped by how common it is.

        A rare one (at most ``RARE`` characters) becomes an explicit id list, so the page is
        read by primary key; a common one becomes a correlated EXISTS, so the page is read
        in index order and stops after a page's worth. Either way no query walks 100,000 rows
        to find 20.
        """
        c = characters.c
        ids: set[str] | None = None
        common = []
        for table, condition in probes:
            found = (
                (await conn.execute(select(table.c.character_id).where(condition).limit(RARE + 1)))
                .scalars()
                .all()
            )
            if len(found) <= RARE:
                ids = set(found) if ids is None else ids & set(found)
                if not ids:
                    return [], True
            else:
                common.append(exists().where(table.c.character_id == c.id, condition))
        filters: list[Any] = [c.id.in_(sorted(ids))] if ids is not None else []
        return filters + common, False

    async def _page(
        self, conn: AsyncConnection, query: CharacterQuery, filters: list[Any]
    ) -> list[Character]:
        c = characters.c
        depth = query.limit + query.offset

        def branch(visible: Any) -> Any:
            return (
                select(c.id)
                .where(visible, *filters)
                .order_by(c.created_at.desc(), c.id.desc())
                .limit(depth)
                .subquery()
            )

        own = branch(and_(c.owner_id == query.viewer_id, c.is_public == false()))
        if query.only_own:
            public = branch(and_(c.owner_id == query.viewer_id, c.is_public == true()))
        else:
            public = branch(c.is_public == true())
        candidates = union_all(select(own.c.id), select(public.c.id)).subquery()
        statement = (
            select(*_COLUMNS)
            .select_from(characters.join(users, users.c.id == c.owner_id))
            .where(c.id.in_(select(candidates.c.id)))
            .order_by(c.created_at.desc(), c.id.desc())
            .limit(query.limit)
            .offset(query.offset)
        )
        rows = (await conn.execute(statement)).mappings().all()
        tags = await self._tags(conn, [r["id"] for r in rows])
        return [_to_character(r, tags.get(r["id"], [])) for r in rows]

    async def _tags(self, conn: AsyncConnection, ids: Sequence[str]) -> dict[str, list[str]]:
        if not ids:
            return {}
        rows = await conn.execute(
            select(character_tags.c.character_id, character_tags.c.tag)
            .where(character_tags.c.character_id.in_(ids))
            .order_by(character_tags.c.tag)
        )
        found: dict[str, list[str]] = {}
        for character_id, tag in rows:
            found.setdefault(character_id, []).append(tag)
        return found
