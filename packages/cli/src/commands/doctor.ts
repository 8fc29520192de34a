import { setTimeout as sleep } from "node:timers/promises";
import {
  type DriverAbout,
  describeUrl,
  ErrorCode,
  errorCode,
  type Health,
  type Message,
  redactUrl,
  type Subscription,
  type Topic,
} from "@portable-pubsub/core/driver";
import { type DriverInfo, loadDriver, openSubscriptionAt, openTopicAt, parseUrl, schemeOf } from "../drivers.js";
import { ExitCode, errorText, exitCodeFor } from "../exit.js";
import { adviceFor, inProcessNote, serverOf } from "../hints.js";
import { type Check, type Inspection, serverProductOf } from "../inspect.js";
import { forTerminal, writeOut } from "../io.js";

export type Role = "topic" | "subscription";

export interface DoctorOptions {
  /** Which roles to probe the URL in. */
  roles: Role[];
  /** The roles were not chosen by the user: the driver's inspection may narrow them. */
  rolesByDefault?: boolean;
  /** How long each step may take, in ms. */
  timeout: number;
}

/**
 * `pubsub doctor URL`: loads the driver, asks it to inspect the URL when it
 * offers the `inspectURL` hook, then probes through the portable API: opens
 * the URL as a topic (and waits for its connection) and as a subscription
 * (and tries one receive, handing any message back). Prints what it found
 * and what to fix; returns the exit code of the first failed check.
 */
export async function doctor(urlText: string, options: DoctorOptions): Promise<number> {
  const url = parseUrl(urlText);
  const checks: Check[] = [];
  let broker: string | undefined;
  let driver: DriverInfo | undefined;
  try {
    driver = await loadDriver(url);
    checks.push({ subject: "driver", status: "ok", detail: driverName(driver) });
  } catch (err) {
    checks.push(failed("driver", err, "install the driver package or fix the scheme"));
  }
  let roles = options.roles;
  if (driver?.module.inspectURL) {
    const inspection = await inspectWith(driver, url, options.timeout);
    broker = inspection.broker ?? broker;
    if (inspection.server) checks.push({ subject: "server", status: "ok", detail: inspection.server });
    checks.push(...inspection.checks);
    const found = inspection.roles;
    if (options.rolesByDefault && found && found.length > 0) roles = roles.filter((role) => found.includes(role));
  }
  const about = driver?.module.about;
  if (driver) {
    const probes: Check[] = [];
    for (const role of options.roles) {
      if (!roles.includes(role)) {
        probes.push({ subject: role, status: "skip", detail: `not probed: the driver found no ${role} for this URL` });
        continue;
      }
      const probe = role === "topic" ? probeTopic : probeSubscription;
      const found = await probe(url, about, options.timeout);
      broker ??= found.broker;
      probes.push(found.check);
    }
    checks.push(...skipWrongRole(probes));
  }
  broker ??= about ? `${about.broker} (the driver reports no version); server from ${about.server}` : undefined;
  await writeOut(report(url, broker, checks, inProcessNote(schemeOf(url), about)));
  const failure = checks.find((c) => c.status === "fail");
  return failure ? exitCodeFor(failure.code ?? ErrorCode.Unknown) : ExitCode.ok;
}

/**
 * Probing both roles, a URL that only one role accepts (a query parameter of
 * subscriptions only, say) is not a problem: the other role's InvalidArgument
 * becomes a skipped check, as long as one role accepted the URL.
 */
function skipWrongRole(probes: Check[]): Check[] {
  if (probes.length < 2) return probes;
  const invalid = (c: Check) => c.status === "fail" && c.code === ErrorCode.InvalidArgument;
  if (probes.every(invalid) || !probes.some(invalid)) return probes;
  return probes.map((c) =>
    invalid(c) ? { subject: c.subject, status: "skip", detail: `not a ${c.subject} URL (${c.detail})` } : c,
  );
}

function driverName(driver: DriverInfo): string {
  const version = driver.version ? ` ${driver.version}` : "";
  const hook = driver.module.inspectURL ? "" : " (offers no inspection; probing through the portable API)";
  return `${driver.scheme}:// by ${driver.packageName}${version}${hook}`;
}

async function inspectWith(driver: DriverInfo, url: URL, timeout: number): Promise<Inspection> {
  const inspect = driver.module.inspectURL;
  if (!inspect) return { checks: [] };
  try {
    return await inspect(url, { signal: AbortSignal.timeout(timeout) });
  } catch (err) {
    return { checks: [failed("inspection", err, "see the message")] };
  }
}

interface Probe {
  check: Check;
  broker?: string;
}

/**
 * Opens `url` in `role` within `timeout`, examines it, and shuts it down.
 * Failing to open, or an error while examining, is a failed check with advice.
 */
async function probeRole<R extends Topic | Subscription>(
  role: Role,
  about: DriverAbout | undefined,
  timeout: number,
  open: () => Promise<R>,
  examine: (resource: R) => Promise<Check>,
): Promise<Probe> {
  let resource: R;
  try {
    resource = await withTimeout(open(), timeout, `open the ${role}`);
  } catch (err) {
    return { check: failed(role, err, adviceFor(errorCode(err), about, role)) };
  }
  const broker = serverProductOf(resource.as<unknown>());
  try {
    return { check: await examine(resource), broker };
  } catch (err) {
    return { check: failed(role, err, adviceFor(errorCode(err), about, role)), broker };
  } finally {
    await resource.shutdown({ signal: AbortSignal.timeout(timeout) }).catch(() => {});
  }
}

/** Opens `url` as a topic and waits until its connection is ready. Sends nothing. */
function probeTopic(url: URL, about: DriverAbout | undefined, timeout: number): Promise<Probe> {
  return probeRole(
    "topic",
    about,
    timeout,
    () => openTopicAt(url),
    async (topic) => {
      const health = await readyWithin(() => topic.health, timeout);
      const check = healthCheck("topic", health, about);
      if (check.status === "ok") {
        check.detail = `opened; connection ${health.state} (nothing sent: a missing topic shows on the first send)`;
      }
      return check;
    },
  );
}

/** Opens `url` as a subscription and tries one receive; a message it gets is handed back. */
function probeSubscription(url: URL, about: DriverAbout | undefined, timeout: number): Promise<Probe> {
  return probeRole(
    "subscription",
    about,
    timeout,
    () => openSubscriptionAt(url),
    async (sub) => {
      let message: Message;
      try {
        message = await sub.receive({ signal: AbortSignal.timeout(Math.min(timeout, 2000)) });
      } catch (err) {
        if (errorCode(err) !== ErrorCode.DeadlineExceeded) throw err;
        const check = healthCheck("subscription", sub.health, about);
        if (check.status === "ok") check.detail = "opened; no message waiting";
        return check;
      }
      const handedBack = message.nackable ? "handed back" : "left unacked; it is redelivered after its ack deadline";
      if (message.nackable) message.nack();
      return { subject: "subscription", status: "ok", detail: `opened; a message is waiting (${handedBack})` };
    },
  );
}

function healthCheck(subject: string, health: Health, about: DriverAbout | undefined): Check {
  if (health.state === "connecting" && health.lastError === undefined) {
    // Some drivers (Pub/Sub) connect on first use: no traffic, no news, which is not a failure.
    return {
      subject,
      status: "warn",
      detail: "opened, but the driver reports no connection yet (it may connect on first use; nothing was sent)",
      fix: `if sends then fail, check that the broker is reachable (server: ${serverOf(about)})`,
    };
  }
  if (health.state !== "ready") {
    const why = health.lastError ? `: ${redactUrl(health.lastError.message)}` : "";
    return {
      subject,
      status: "fail",
      code: ErrorCode.DeadlineExceeded,
      detail: `connection still ${health.state}${why}`,
      fix: adviceFor(ErrorCode.DeadlineExceeded, about, "topic"),
    };
  }
  if (health.blocked !== undefined) {
    return {
      subject,
      status: "warn",
      detail: `the broker blocks publishing: ${health.blocked}`,
      fix: "the broker raised a resource alarm; free memory or disk on the broker",
    };
  }
  return { subject, status: "ok", detail: `connection ${health.state}` };
}

async function readyWithin(current: () => Health, timeout: number): Promise<Health> {
  const deadline = Date.now() + timeout;
  while (current().state !== "ready" && Date.now() < deadline) await sleep(50);
  return current();
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(Object.assign(new Error(`could not ${what} within ${ms} ms`), { name: "TimeoutError" }));
    }, ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

function failed(subject: string, err: unknown, fix: string): Check {
  const code = errorCode(err);
  return { subject, status: "fail", code, detail: `${code}: ${errorText(err)}`, fix };
}

const MARK: Record<Check["status"], string> = { ok: "ok  ", warn: "WARN", fail: "FAIL", skip: "--  " };

function report(url: URL, broker: string | undefined, checks: Check[], note: string | undefined): string {
  const width = Math.max(8, ...checks.map((c) => c.subject.length));
  const lines = [`pubsub doctor ${describeUrl(url)}`];
  if (broker) lines.push(`  broker  ${broker}`);
  for (const check of checks) {
    lines.push(`  ${MARK[check.status]}  ${check.subject.padEnd(width)}  ${check.detail}`);
    if (check.fix && (check.status === "warn" || check.status === "fail"))
      lines.push(`        ${" ".repeat(width)}  fix: ${check.fix}`);
  }
  const problems = checks.filter((c) => c.status === "fail").length;
  const warnings = checks.filter((c) => c.status === "warn").length;
  if (problems === 0 && warnings === 0) lines.push("all checks passed");
  else lines.push(`${problems} problem${problems === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"}`);
  if (note) lines.push(`note: ${note}`);
  // Details hold error texts and names a broker gave: one line each, escaped on a terminal.
  return `${lines.map((line) => forTerminal(process.stdout, line)).join("\n")}\n`;
}
