// The official TypeScript SDK against `mcpgw stdio-proxy` in front of a real stdio server.
//
//   node stdio_client.mjs URL memory       v1 SDK (2025-11-25 sessions): create_entities, read_graph,
//                                           session end
//   node stdio_client.mjs URL everything   v1 SDK: echo, a long-running tool's progress (SSE answer),
//                                           simulated logging (notifications/message on the GET
//                                           stream), session end
//   node stdio_client.mjs URL modern       v2 SDK pinned to 2026-07-28 (the proxy's pool): tools/list,
//                                           echo
//
// Prints one JSON object with what the client saw; exits non-zero with {"error": ...} on failure.
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';

const [url, mode] = process.argv.slice(2);

function textOf(result) {
  return (result.content || []).filter((c) => c.type === 'text').map((c) => c.text).join('');
}

async function connectV1() {
  const transport = new TransportV1(new URL(url));
  const client = new ClientV1({ name: 'mcpgw-e2e-stdio', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

async function memory() {
  const { client, transport } = await connectV1();
  const out = { sessionId: transport.sessionId ?? null, server: client.getServerVersion() };
  out.tools = (await client.listTools()).tools.map((t) => t.name);
  await client.callTool({
    name: 'create_entities',
    arguments: { entities: [{ name: 'mcpgw', entityType: 'project', observations: ['written in C'] }] },
  });
  out.graph = JSON.parse(textOf(await client.callTool({ name: 'read_graph', arguments: {} })));
  await transport.terminateSession();
  out.terminated = transport.sessionId === undefined;
  await client.close();
  return out;
}

async function everything() {
  const { client, transport } = await connectV1();
  const out = { sessionId: transport.sessionId ?? null, server: client.getServerVersion() };
  const logs = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params));
  out.tools = (await client.listTools()).tools.map((t) => t.name);
  out.echo = textOf(await client.callTool({ name: 'echo', arguments: { message: 'hello through stdio' } }));
  const progress = [];
  const long = await client.callTool(
    { name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 3 } },
    undefined,
    { onprogress: (p) => progress.push(p) },
  );
  out.long = textOf(long);
  out.progress = progress;
  await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
  for (let i = 0; i < 100 && logs.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  out.logs = logs;
  await transport.terminateSession();
  out.terminated = transport.sessionId === undefined;
  await client.close();
  return out;
}

async function modern() {
  const transport = new TransportV2(new URL(url));
  const client = new ClientV2(
    { name: 'mcpgw-e2e-stdio-v2', version: '1.0.0' },
    { versionNegotiation: { mode: { pin: '2026-07-28' } } },
  );
  await client.connect(transport);
  const out = { protocolVersion: client.getNegotiatedProtocolVersion(), sessionId: transport.sessionId ?? null };
  out.tools = (await client.listTools()).tools.map((t) => t.name);
  out.echo = textOf(await client.callTool({ name: 'echo', arguments: { message: 'stateless hello' } }));
  await client.close();
  return out;
}

const modes = { memory, everything, modern };
try {
  if (!modes[mode]) throw new Error(`unknown mode ${mode}`);
  console.log(JSON.stringify(await modes[mode]()));
} catch (e) {
  console.log(JSON.stringify({ error: String(e?.stack ?? e) }));
  process.exit(1);
}
