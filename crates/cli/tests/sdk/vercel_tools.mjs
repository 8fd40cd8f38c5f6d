// Drives the proxy with the Vercel AI SDK (`ai` + `@ai-sdk/openai`, Responses provider) through a
// multi-step tool loop and prints a JSON report on the last stdout line.
//
// Usage: CCP_VERCEL_NODE_MODULES=DIR node vercel_tools.mjs BASE_URL STORE CALL
//   DIR:   the node_modules holding ai and @ai-sdk/openai (.tools/node_modules; this script lives
//          outside it, so bare imports would not find them)
//   STORE: default  (store unset: the SDK replays reasoning and assistant text as item_reference)
//          no-store (providerOptions.openai.store = false: reasoning replayed as summary_text with
//                    encrypted_content, requested through include)
//   CALL:  generate (generateText, non-streaming requests) | stream (streamText, SSE)
// The Rust test decides what the upstream answers and asserts on the report. Any event or body
// the SDK's zod schemas refuse is an error here (a thrown exception or an `error` stream part),
// and the script exits non-zero.
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [baseURL, storeMode, call] = process.argv.slice(2);
const modules = process.env.CCP_VERCEL_NODE_MODULES;
if (!modules || !baseURL || !["default", "no-store"].includes(storeMode) || !["generate", "stream"].includes(call)) {
  console.error("usage: CCP_VERCEL_NODE_MODULES=DIR vercel_tools.mjs BASE_URL default|no-store generate|stream");
  process.exit(2);
}
const resolveIn = createRequire(join(modules, "resolve-from-here.js"));
const load = (name) => import(pathToFileURL(resolveIn.resolve(name)).href);
const { createOpenAI } = await load("@ai-sdk/openai");
const { generateText, jsonSchema, stepCountIs, streamText, tool } = await load("ai");

// Every body the SDK posts: in the report, and on stderr when the run fails.
const sent = [];
const recordingFetch = (url, init) => {
  sent.push({ url: String(url), body: typeof init?.body === "string" ? JSON.parse(init.body) : null });
  return fetch(url, init);
};
process.on("exit", (code) => {
  if (code !== 0) console.error(`requests the SDK sent:\n${JSON.stringify(sent, null, 2)}`);
});
// e2e_vercel.rs reads the stored responses back with the same key (SDK_KEY).
const openai = createOpenAI({ baseURL, apiKey: "sk-client-vercel-test", fetch: recordingFetch });
const toolCalls = [];
const weather = tool({
  description: "Current weather for a city",
  inputSchema: jsonSchema({
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
    additionalProperties: false,
  }),
  execute: async ({ city }) => {
    toolCalls.push(city);
    return { city, forecast: "sunny", celsius: 21 };
  },
});

const openaiOptions = { forceReasoning: true };
if (storeMode === "no-store") openaiOptions.store = false;
const settings = {
  model: openai.responses("thinking-model"),
  prompt: "What is the weather in Paris?",
  tools: { get_weather: weather },
  stopWhen: stepCountIs(4),
  providerOptions: { openai: openaiOptions },
  maxRetries: 0,
};

function describeSteps(steps) {
  return steps.map((step) => ({
    finish_reason: step.finishReason,
    text: step.text,
    reasoning: step.reasoningText ?? null,
    tool_calls: step.toolCalls.map((c) => ({ name: c.toolName, input: c.input })),
    response_id: step.providerMetadata?.openai?.responseId ?? step.response?.id ?? null,
    warnings: (step.warnings ?? []).map((w) => w.message ?? w.details ?? JSON.stringify(w)),
  }));
}

const report = { store: storeMode, call };
if (call === "generate") {
  const result = await generateText(settings);
  report.text = result.text;
  report.steps = describeSteps(result.steps);
} else {
  const streamErrors = [];
  const kinds = new Set();
  const result = streamText({ ...settings, onError: ({ error }) => streamErrors.push(String(error)) });
  for await (const part of result.fullStream) {
    kinds.add(part.type);
    if (part.type === "error") streamErrors.push(String(part.error?.message ?? part.error));
  }
  if (streamErrors.length > 0) {
    console.error(`stream errors: ${streamErrors.join("\n")}`);
    process.exit(1);
  }
  report.text = await result.text;
  report.steps = describeSteps(await result.steps);
  report.stream_part_kinds = [...kinds].sort();
}
report.tool_calls = toolCalls;
report.requests = sent.map((r) => r.body);
console.log(JSON.stringify(report));
