"""Registering, signing in and out, and finding the session behind a token."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from serika.accounts.model import Session, Tier, User
from serika.accounts.passwords import Passwords
from serika.accounts.store import AccountStore, DuplicateUser
from serika.accounts.throttle import LoginThrottle
from serika.clock import Clock
from serika.errors import AuthenticationFailed, Conflict, InvalidRequest, NotFound, RateLimited
from serika.ids import new_id
from serika.keys.hashing import SecretHasher
from serika.keys.revocation import Revocations

EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{3,32}$")
PASSWORD_MIN = 8
PASSWORD_MAX = 256


def clean_email(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidRequest("email must be a string", param="email")
    email = value.strip().lower()
    if len(email) > 254 or EMAIL_PATTERN.fullmatch(email) is None:
        raise InvalidRequest("email is not a valid email address", param="email")
    return email


def clean_username(value: object) -> str:
    if not isinstance(value, str) or USERNAME_PATTERN.fullmatch(value.strip()) is None:
        raise InvalidRequest(
            "username must be 3 to 32 letters, digits, '_', '.' or '-'", param="username"
        )
    return value.strip()


def check_password(value: object, param: str = "password") -> str:
    if not isinstance(value, str) or not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise InvalidRequest(
            f"{param} must be {PASSWORD_MIN} to {PASSWORD_MAX} characters", param=param
        )
    return value


class AccountService:
    def __init__(
        self,
        store: AccountStore,
        passwords: Passwords,
        hasher: SecretHasher,
        throttle: LoginThrottle,
        clock: Clock,
        session_ttl_seconds: int,
        revocations: Revocations,
    ) -> None:
        self._revocations = revocations
        self._store = store
        self._passwords = passwords
        self._hasher = hasher
        self._throttle = throttle
        self._clock = clock
        self._session_ttl = timedelta(seconds=session_ttl_seconds)

    async def register(
        self, email: object, username: object, password: object, tier: Tier = Tier.FREE
    ) -> User:
        clean = clean_email(email)
        name = clean_username(username)
        secret = check_password(password)
        taken = await self._store.taken(clean, name)
        if taken is not None:
            raise Conflict(
                f"that {taken} is already registered", param=taken, code=f"{taken}_taken"
            )
        user_id = new_id("usr")
        try:
            await self._store.insert_user(
                {
                    "id": user_id,
                    "email": clean,
                    "username": name,
                    "password_hash": await self._passwords.hash(secret),
                    "tier": tier.value,
                    "created_at": self._clock.now(),
                }
            )
        except DuplicateUser:
            raise Conflict("that email or username is already registered") from None
        user = await self._store.user_by_id(user_id)
        assert user is not None
        return user

    async def login(self, email: object, password: object, address: str) -> Session:
        if not isinstance(email, str) or not email.strip():
            raise InvalidRequest("email is required", param="email", code="missing_parameter")
        if not isinstance(password, str) or not password:
            raise InvalidRequest("password is required", param="password", code="missing_parameter")
        account = email.strip().lower()
        wait = self._throttle.retry_after(account, address)
        if wait:
            raise RateLimited(
                f"too many failed logins; try again in {wait} seconds", retry_after=wait
            )
        found = await self._store.user_and_hash_by_email(account)
        ok = await self._passwords.verify(found[1] if found else None, password)
        if not ok or found is None:
            self._throttle.failed(account, address)
            raise AuthenticationFailed("incorrect email or password", code="invalid_credentials")
        self._throttle.succeeded(account)
        return await self._open_session(found[0])

    async def _open_session(self, user: User) -> Session:
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self._clock.now()
        expires = now + self._session_ttl
        await self._store.insert_session(
            {
                "token_hash": self._hasher.digest(token),
                "user_id": user.id,
                "csrf_token": csrf,
                "created_at": now,
                "expires_at": expires,
            }
        )
        return Session(user=user, csrf_token=csrf, expires_at=expires, token=token)

    async def session(self, token: str) -> Session | None:
        if not token or len(token) > 128:
            return None
        found = await self._store.session_by_hash(self._hasher.digest(token), self._clock.now())
        if found is None:
            return None
        user, csrf, expires = found
        return Session(user=user, csrf_token=csrf, expires_at=expires)

    async def logout(self, token: str) -> None:
        await self._store.revoke_session(self._hasher.digest(token), self._clock.now())

    async def change_password(
        self, user_id: str, current: object, new: object, *, keep_token: str, address: str
    ) -> None:
        """Checks the current password, stores the new one, and signs out every other session.

        The session whose token is ``keep_token`` (the one asking) stays signed in. Wrong
        current passwords count against the same throttle as failed logins.
        """
        if not isinstance(current, str) or not current:
            raise InvalidRequest(
                "current_password is required", param="current_password", code="missing_parameter"
            )
        secret = check_password(new, "new_password")
        user = await self.user(user_id)
        wait = self._throttle.retry_after(user.email, address)
        if wait:
            raise RateLimited(
                f"too many wrong passwords; try again in {wait} seconds", retry_after=wait
            )
        if not await self._passwords.verify(await self._store.password_hash(user_id), current):
            self._throttle.failed(user.email, address)
            raise InvalidRequest(
                "the current password is not correct",
                param="current_password",
                code="incorrect_password",
            )
        await self._store.set_password_hash(user_id, await self._passwords.hash(secret))
        keep = self._hasher.digest(keep_token) if keep_token else None
        await self._store.revoke_all_sessions(user_id, self._clock.now(), except_hash=keep)

    async def user(self, user_id: str) -> User:
        user = await self._store.user_by_id(user_id)
        if user is None:
            raise NotFound("no such user")
        return user

    async def set_tier(self, email: str, tier: Tier) -> User:
        user = await self._store.user_by_email(clean_email(email))
        if user is None:
            raise NotFound(f"no user with email {email!r}", param="email")
        await self._store.set_tier(user.id, tier)
        await self._revocations.publish()  # cached key credentials carry the tier
        return await self.user(user.id)

    async def set_spending_limit(self, user_id: str, dollars: object) -> User:
        """A monthly spending cap in USD (``None`` removes it)."""
        if dollars is None:
            micro = None
        elif (
            isinstance(dollars, bool)
            or not isinstance(dollars, (int, float))
            or not (0 <= dollars <= 1_000_000)
        ):
            raise InvalidRequest(
                "monthly_spending_limit must be a number of dollars from 0 to 1000000, or null",
                param="monthly_spending_limit",
            )
        else:
            micro = round(dollars * 1_000_000)
        await self._store.set_spending_limit(user_id, micro)
        await self._revocations.publish()  # cached key credentials carry the cap
        return await self.user(user_id)
