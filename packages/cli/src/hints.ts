/**
 * Advice in plain words, built from what each driver says about its broker
 * (its `about`): the command knows no broker itself.
 */
import {
  type DriverAbout,
  describeUrl,
  ErrorCode,
  invalidArgument,
  type PubSubError,
} from "@portable-pubsub/core/driver";

/** The caution to print when sending or receiving through an in-process broker, if `about` says it is one. */
export function inProcessNote(scheme: string, about: DriverAbout | undefined): string | undefined {
  return about?.inProcess
    ? `${scheme}:// is an in-process broker: no other process can receive or send these messages`
    : undefined;
}

/**
 * The error for `send` or `receive` on an in-process broker when the command
 * runs alone in its process: nothing there could receive what it sends or
 * send what it waits for. Undefined for any other broker.
 */
export function aloneInProcess(
  command: "send" | "receive",
  url: URL,
  about: DriverAbout | undefined,
): PubSubError | undefined {
  if (!about?.inProcess) return undefined;
  const scheme = url.protocol.slice(0, -1);
  const why =
    command === "send"
      ? "no subscription exists in this pubsub process, so no one could receive the message; nothing was sent"
      : "this pubsub process sends nothing, so no message could ever arrive";
  const both = describeUrl(new URL(`${url.protocol}//${url.host}${url.pathname}`));
  return invalidArgument(
    `${scheme}:// is an in-process broker that lives inside one process, and ${why}. To try ${scheme}:// end to end, run "pubsub bench ${both} ${both}", which sends and receives in one process`,
  );
}

/** Where the driver finds its server, for advice. */
export function serverOf(about: DriverAbout | undefined): string {
  return about?.server ?? "see the driver's options";
}

/** What to do about an error of `code` met while opening or probing `role` with a driver described by `about`. */
export function adviceFor(code: ErrorCode, about: DriverAbout | undefined, role: "topic" | "subscription"): string {
  switch (code) {
    case ErrorCode.NotFound:
      return about
        ? `the ${role === "topic" ? about.topicKind : about.subscriptionKind} does not exist: ${about.create}`
        : `create the ${role}`;
    case ErrorCode.PermissionDenied:
      return "the broker refused the credentials or the user lacks permission on this resource; check the user, password and permissions";
    case ErrorCode.DeadlineExceeded:
    case ErrorCode.Canceled:
      return `the broker did not answer in time: is it running and reachable? The server comes from ${about?.server ?? "the driver's options"}`;
    case ErrorCode.InvalidArgument:
      return "fix the URL or the option named in the message";
    case ErrorCode.Unimplemented:
      return "this driver cannot do that; update the driver package";
    case ErrorCode.ResourceExhausted:
      return "the broker is out of a resource (memory, disk, quota); free some or raise the limit";
    case ErrorCode.FailedPrecondition:
      return "the resource exists but is not usable as it is (wrong type or settings); see the message";
    default:
      return `see the message; check that the broker is reachable (server: ${serverOf(about)})`;
  }
}
