import { randomUUID } from "node:crypto";
import { ErrorCode, type OutgoingMessage, PubSubError } from "@portable-pubsub/core";

/** What a client posts. */
export interface OrderRequest {
  item: string;
  quantity: number;
  customer?: string;
}

/** An order as it travels through the broker. */
export interface Order extends OrderRequest {
  id: string;
  createdAt: string;
}

/** Checks a parsed request body; throws InvalidArgument naming the first problem. */
export function parseOrderRequest(body: unknown): OrderRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new PubSubError(
      ErrorCode.InvalidArgument,
      'the body must be a JSON object like {"item": "book", "quantity": 1}',
    );
  }
  const { item, quantity, customer, ...rest } = body as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0)
    throw new PubSubError(
      ErrorCode.InvalidArgument,
      `unknown field "${unknown[0]}"; fields are item, quantity, customer`,
    );
  if (typeof item !== "string" || item.length === 0 || item.length > 200) {
    throw new PubSubError(ErrorCode.InvalidArgument, '"item" must be a non-empty string of at most 200 characters');
  }
  if (typeof quantity !== "number" || !Number.isInteger(quantity) || quantity < 1 || quantity > 1000) {
    throw new PubSubError(ErrorCode.InvalidArgument, '"quantity" must be a whole number from 1 to 1000');
  }
  if (customer !== undefined && (typeof customer !== "string" || customer.length > 200)) {
    throw new PubSubError(ErrorCode.InvalidArgument, '"customer" must be a string of at most 200 characters');
  }
  return customer === undefined ? { item, quantity } : { item, quantity, customer };
}

export function newOrder(request: OrderRequest): Order {
  return { id: randomUUID(), ...request, createdAt: new Date().toISOString() };
}

/** The message an order is sent as: JSON, with its id in metadata for logs and routing. */
export function orderMessage(order: Order): OutgoingMessage {
  return { body: JSON.stringify(order), metadata: { "order-id": order.id, "content-type": "application/json" } };
}

/**
 * Reads an order back from a message body, checked as POST /orders checks a
 * request: the topic may carry messages of other producers, or of another
 * version of this service. Throws InvalidArgument naming the first problem.
 */
export function readOrder(body: Uint8Array): Order {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    throw new PubSubError(ErrorCode.InvalidArgument, "the message is not a JSON order");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new PubSubError(ErrorCode.InvalidArgument, "the message is not a JSON object");
  }
  const { id, createdAt, ...request } = parsed as Record<string, unknown>;
  if (typeof id !== "string" || id.length === 0) {
    throw new PubSubError(ErrorCode.InvalidArgument, 'the order has no "id"');
  }
  if (typeof createdAt !== "string") {
    throw new PubSubError(ErrorCode.InvalidArgument, `order ${id} has no "createdAt"`);
  }
  try {
    return { id, ...parseOrderRequest(request), createdAt };
  } catch (err) {
    throw new PubSubError(ErrorCode.InvalidArgument, `order ${id} is invalid: ${(err as Error).message}`);
  }
}
