import type { IncomingMessage, ServerResponse } from "node:http";
import { ErrorCode, errorCode, type Topic } from "@portable-pubsub/core";
import type { Logger } from "./log.js";
import type { OrderStore } from "./order-store.js";
import type { OrderSchema } from "./orders.js";
import { newOrder, orderMessage, parseOrderRequest } from "./orders.js";
import { activeTraceId } from "./tracing.js";

const MAX_BODY_BYTES = 64 * 1024;

/** Portable codes that mean "the broker cannot take it now; try again": 503 rather than 500. */
const UNAVAILABLE = new Set<ErrorCode>([
  ErrorCode.DeadlineExceeded,
  ErrorCode.Canceled,
  ErrorCode.ResourceExhausted,
  ErrorCode.FailedPrecondition,
  ErrorCode.Unknown,
]);

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * POST /orders: validates the order, sends it, and answers 201 only once the
 * broker has confirmed it; 400 for a bad body; 503 (with Retry-After) when the
 * topic is closed, blocked by the broker, or did not confirm within `sendTimeoutMs`.
 */
export async function postOrder(
  req: IncomingMessage,
  res: ServerResponse,
  deps: { topic: Topic<typeof OrderSchema>; store?: OrderStore; log: Logger; sendTimeoutMs: number },
): Promise<void> {
  let text: string;
  try {
    text = await readBody(req);
  } catch (err) {
    sendJson(res, 413, { error: ErrorCode.InvalidArgument, message: (err as Error).message });
    return;
  }
  let request: ReturnType<typeof parseOrderRequest>;
  try {
    request = parseOrderRequest(JSON.parse(text));
  } catch (err) {
    const message = err instanceof SyntaxError ? `the body is not JSON: ${err.message}` : (err as Error).message;
    sendJson(res, 400, { error: ErrorCode.InvalidArgument, message });
    return;
  }
  const { topic, store, log } = deps;
  if (store !== undefined) {
    await placeInStore(res, store, request, log);
    return;
  }
  const order = newOrder(request);
  const health = topic.health;
  if (health.state === "closed" || health.blocked !== undefined) {
    const message = health.blocked ? `the broker blocks publishing: ${health.blocked}` : "the service is shutting down";
    sendJson(res, 503, { error: ErrorCode.FailedPrecondition, message }, { "retry-after": "5" });
    return;
  }
  try {
    await topic.send(orderMessage(order), { signal: AbortSignal.timeout(deps.sendTimeoutMs) });
  } catch (err) {
    const code = errorCode(err);
    log.warn("order not accepted: the broker did not confirm it", { orderId: order.id, code, err });
    const status = UNAVAILABLE.has(code) ? 503 : 500;
    sendJson(
      res,
      status,
      { error: code, message: (err as Error).message },
      status === 503 ? { "retry-after": "1" } : {},
    );
    return;
  }
  log.debug("order accepted", { orderId: order.id, traceId: activeTraceId() });
  sendAccepted(res, order.id);
}

/** 201, with the order's id and where to find it: the answer to an order sent or stored. */
function sendAccepted(res: ServerResponse, orderId: string): void {
  sendJson(res, 201, { id: orderId, status: "accepted" }, { location: `/orders/${orderId}` });
}

/** The order and its message, committed together through the outbox: 201 once both are in the database. */
async function placeInStore(
  res: ServerResponse,
  store: OrderStore,
  request: ReturnType<typeof parseOrderRequest>,
  log: Logger,
): Promise<void> {
  try {
    const { order, messageId } = await store.place(request);
    log.debug("order stored", { orderId: order.id, messageId });
    sendAccepted(res, order.id);
  } catch (err) {
    log.warn("order not stored: the database refused it or is unreachable", { err });
    sendJson(res, 503, { error: errorCode(err), message: (err as Error).message }, { "retry-after": "1" });
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).byteLength;
    if (size > MAX_BODY_BYTES) throw new Error(`the body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}
