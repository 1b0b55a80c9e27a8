// One chat and one stream with the official openai npm package; prints what it got as JSON.
import OpenAI from "openai";

const client = new OpenAI({
  apiKey: process.env.SERIKA_API_KEY,
  baseURL: process.env.SERIKA_BASE_URL,
  maxRetries: 0,
});
const model = process.env.SERIKA_MODEL;
const messages = [{ role: "user", content: process.env.SERIKA_PROMPT ?? "Hello!" }];

const chat = await client.chat.completions.create({ model, messages });
const stream = await client.chat.completions.create({
  model,
  messages,
  stream: true,
  stream_options: { include_usage: true },
});
let streamed = "";
let chunks = 0;
let usage = null;
for await (const chunk of stream) {
  chunks += 1;
  streamed += chunk.choices[0]?.delta?.content ?? "";
  if (chunk.usage) usage = chunk.usage;
}
let denied = null;
try {
  await client.chat.completions.create({ model: "no/such-model", messages });
} catch (error) {
  denied = { status: error.status, code: error.code, type: error.type };
}
console.log(JSON.stringify({
  chat: { model: chat.model, content: chat.choices[0].message.content, usage: chat.usage },
  stream: { content: streamed, chunks, usage },
  error: denied,
}));
