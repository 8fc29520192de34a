import { ErrorCode, PubSubError } from "@portable-pubsub/core";
import { describe, expect, it } from "vitest";
import { errorLine } from "../src/exit.js";

describe("errorLine", () => {
  it("prints a PubSubError's message as the library wrote it: its examples keep their user", () => {
    const err = new PubSubError(ErrorCode.InvalidArgument, "no server; such as amqp://guest:guest@localhost:5672");
    expect(errorLine(err)).toBe("pubsub: InvalidArgument: no server; such as amqp://guest:guest@localhost:5672");
  });

  it("redacts any other error, which nobody vouched for", () => {
    const err = new Error("connect amqp://admin:hunter2@rabbit:5672 failed\n    at somewhere");
    expect(errorLine(err)).toBe("pubsub: Unknown: connect amqp://***@rabbit:5672 failed");
  });

  it.each([
    [
      "set the RABBIT_SERVER_URL environment variable or the serverUrl option, such as X",
      "set the RABBIT_SERVER_URL environment variable, such as X",
    ],
    [
      "set REDIS_SERVER_URL (such as redis://localhost:6379) or pass the serverUrl option",
      "set REDIS_SERVER_URL (such as redis://localhost:6379)",
    ],
    ["is it reachable? Set RABBIT_SERVER_URL or the serverUrl option", "is it reachable? Set RABBIT_SERVER_URL"],
  ])("leaves out the library's serverUrl option, which the command does not have: %s", (message, worded) => {
    expect(errorLine(new PubSubError(ErrorCode.InvalidArgument, message))).toBe(`pubsub: InvalidArgument: ${worded}`);
  });
});
