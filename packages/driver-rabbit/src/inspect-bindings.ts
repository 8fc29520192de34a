/**
 * The bindings part of `pubsub doctor` for rabbit://: whether an exchange
 * has any binding, since a send to one without is refused (312 NO_ROUTE)
 * and a dead letter sent there loops. AMQP 0-9-1 cannot list bindings, so
 * this asks the management plugin's HTTP API: RABBIT_MANAGEMENT_URL, else
 * port 15672 of the first server URL's host, with that URL's user and
 * password unless the management URL has its own. When the API does not
 * answer, the check is skipped and says so: nothing is guessed.
 */
import type { Check } from "@portable-pubsub/core/driver";
import { resolveSettings } from "./amqp/settings.js";

/** How long the doctor waits for the management API. */
const MANAGEMENT_TIMEOUT_MS = 3000;

/** The management plugin's default HTTP port. */
const MANAGEMENT_PORT = 15672;

/** The management API's base URL (no credentials) and the Authorization header for it. */
function managementEndpoint(): { base: string; authorization: string; vhost: string } {
  const { targets } = resolveSettings({ connectionName: "portable-pubsub doctor" });
  const amqp = targets[0]?.options ?? {};
  const given = process.env.RABBIT_MANAGEMENT_URL;
  const url = new URL(given ?? `http://${amqp.hostname ?? "localhost"}:${MANAGEMENT_PORT}`);
  const username = url.username ? decodeURIComponent(url.username) : (amqp.username ?? "guest");
  const password = url.password ? decodeURIComponent(url.password) : (amqp.password ?? "guest");
  url.username = "";
  url.password = "";
  const authorization = `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
  return { base: url.href.replace(/\/$/, ""), authorization, vhost: amqp.vhost ?? "/" };
}

/** Warns about an exchange without bindings; skips, saying why, when the management API does not answer. */
export async function bindingsCheck(exchange: string, signal: AbortSignal): Promise<Check> {
  const subject = "bindings";
  let base = "the management API";
  try {
    const endpoint = managementEndpoint();
    base = endpoint.base;
    const path = `/api/exchanges/${encodeURIComponent(endpoint.vhost)}/${encodeURIComponent(exchange)}/bindings/source`;
    const response = await fetch(`${endpoint.base}${path}`, {
      headers: { authorization: endpoint.authorization },
      signal: AbortSignal.any([signal, AbortSignal.timeout(MANAGEMENT_TIMEOUT_MS)]),
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const bindings = (await response.json()) as unknown;
    if (!Array.isArray(bindings)) throw new Error("an answer that is not a list of bindings");
    if (bindings.length > 0) {
      return { subject, status: "ok", detail: `exchange "${exchange}" has ${bindings.length} bindings` };
    }
    return {
      subject,
      status: "warn",
      detail: `exchange "${exchange}" has no bindings: every send to it reaches no queue and fails with NotFound (312 NO_ROUTE), and a dead letter sent there loops`,
      fix: `bind a queue to it (open rabbit://QUEUE?declare=true&exchange=${exchange}), or, for a dead-letter topic, use rabbit://${exchange}?declare=true, which declares a queue of its name bound to receive every dead letter`,
    };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return {
      subject,
      status: "skip",
      detail: `bindings of exchange "${exchange}" not checked: AMQP cannot list them, and the management API at ${base} did not answer (${why})`,
      fix: "enable the rabbitmq_management plugin or set RABBIT_MANAGEMENT_URL; or list them with rabbitmqctl list_bindings",
    };
  }
}
