// A real MCP client (the official TypeScript SDK) for the end-to-end tests.
//
//   node client.mjs URL legacy [--stateful]   @modelcontextprotocol/sdk (v1): initialize (2025-11-25),
//                                              tools/list, tools/call, session end (DELETE)
//   node client.mjs URL modern [--stateful]   @modelcontextprotocol/client (v2) pinned to 2026-07-28:
//                                              server/discover, tools/list, tools/call; no session
//
// Prints one JSON object with what the client saw; exits non-zero with {"error": ...} on failure.
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';

const [url, mode = 'legacy', ...flags] = process.argv.slice(2);
const stateful = flags.includes('--stateful');
const headers = { 'X-User-Name': 'e2e-user' };

function textOf(result) {
  return (result.content || []).filter((c) => c.type === 'text').map((c) => c.text).join('');
}

async function legacy() {
  const transport = new TransportV1(new URL(url), { requestInit: { headers } });
  const client = new ClientV1({ name: 'mcpgw-e2e-v1', version: '1.0.0' });
  await client.connect(transport);
  const out = {
    sdk: 'v1',
    protocolVersion: transport.protocolVersion,
    sessionId: transport.sessionId ?? null,
    server: client.getServerVersion(),
  };
  out.tools = (await client.listTools()).tools.map((t) => t.name);
  out.echo = textOf(await client.callTool({ name: 'echo', arguments: { message: 'hello from the SDK' } }));
  if (stateful) {
    out.replay = textOf(await client.callTool({ name: 'replayLastEcho', arguments: {} }));
  } else {
    out.header = textOf(await client.callTool({ name: 'printHeader', arguments: { header_name: 'X-User-Name' } }));
  }
  const bad = await client.callTool({ name: 'echo', arguments: {} }).catch((e) => ({ thrown: String(e) }));
  out.badArgumentsIsError = bad.isError === true || 'thrown' in bad;
  await client.ping();
  if (stateful) {
    await transport.terminateSession();
    out.terminated = transport.sessionId === undefined;
    // A fresh transport reusing the ended session id must get 404 (session not found).
    const stale = new TransportV1(new URL(url), { sessionId: out.sessionId, requestInit: { headers } });
    await stale.start();
    try {
      await stale.send({ jsonrpc: '2.0', id: 99, method: 'tools/list', params: {} });
      out.afterDelete = 'accepted';
    } catch (e) {
      out.afterDelete = e?.code ?? String(e); // the HTTP status for a StreamableHTTPError
    }
    await stale.close();
  }
  await client.close();
  return out;
}

async function modern() {
  const transport = new TransportV2(new URL(url), { requestInit: { headers } });
  const client = new ClientV2(
    { name: 'mcpgw-e2e-v2', version: '1.0.0' },
    { versionNegotiation: { mode: { pin: '2026-07-28' } } },
  );
  await client.connect(transport);
  const out = {
    sdk: 'v2',
    protocolVersion: client.getNegotiatedProtocolVersion(),
    sessionId: transport.sessionId ?? null,
    server: client.getServerVersion(),
  };
  out.tools = (await client.listTools()).tools.map((t) => t.name);
  out.echo = textOf(await client.callTool({ name: 'echo', arguments: { message: 'hello from the SDK' } }));
  if (!stateful) {
    out.header = textOf(await client.callTool({ name: 'printHeader', arguments: { header_name: 'X-User-Name' } }));
  }
  await client.close();
  return out;
}

try {
  const out = mode === 'modern' ? await modern() : await legacy();
  console.log(JSON.stringify(out));
  process.exit(0);
} catch (e) {
  console.log(JSON.stringify({ error: String(e), stack: e?.stack }));
  process.exit(1);
}
