// The official TypeScript SDK (@modelcontextprotocol/sdk, v1) against `mcpgw fetch`.
//
//   node fetch_client.mjs MCP_URL PAGE_URL [modern]
//
// initialize (2025-11-25; with "modern" the v2 client @modelcontextprotocol/client pinned to
// 2026-07-28 instead), tools/list, fetch the page (first 100 characters, then the rest from the
// hint's start_index), prompts/list and prompts/get fetch. Prints one JSON object; exits
// non-zero with {"error": ...} on failure.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';

const [url, page, mode = 'legacy'] = process.argv.slice(2);

function textOf(result) {
  return (result.content || []).filter((c) => c.type === 'text').map((c) => c.text).join('');
}

async function main() {
  let transport, client, out;
  if (mode === 'modern') {
    transport = new TransportV2(new URL(url));
    client = new ClientV2({ name: 'mcpgw-e2e-fetch-v2', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await client.connect(transport);
    out = { protocolVersion: client.getNegotiatedProtocolVersion(), server: client.getServerVersion() };
  } else {
    transport = new StreamableHTTPClientTransport(new URL(url));
    client = new Client({ name: 'mcpgw-e2e-fetch', version: '1.0.0' });
    await client.connect(transport);
    out = { protocolVersion: transport.protocolVersion, server: client.getServerVersion() };
  }
  const tools = (await client.listTools()).tools;
  out.tools = tools.map((t) => t.name);
  out.fetchSchema = tools.find((t) => t.name === 'fetch')?.inputSchema ?? null;
  const first = await client.callTool({ name: 'fetch', arguments: { url: page, max_length: 100 } });
  out.first = textOf(first);
  out.firstIsError = first.isError === true;
  const hint = /start_index of (\d+)/.exec(out.first);
  out.nextIndex = hint ? Number(hint[1]) : null;
  if (hint) {
    const rest = await client.callTool({ name: 'fetch', arguments: { url: page, start_index: out.nextIndex, max_length: 100000 } });
    out.rest = textOf(rest);
  }
  out.prompts = (await client.listPrompts()).prompts.map((p) => p.name);
  const prompt = await client.getPrompt({ name: 'fetch', arguments: { url: page } });
  out.promptRole = prompt.messages[0]?.role ?? null;
  out.promptText = prompt.messages[0]?.content?.text ?? null;
  await client.close();
  return out;
}

main().then(
  (out) => console.log(JSON.stringify(out)),
  (e) => {
    console.log(JSON.stringify({ error: String(e && e.stack ? e.stack : e) }));
    process.exit(1);
  },
);
