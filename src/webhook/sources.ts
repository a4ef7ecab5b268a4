/**
 * The addresses reviews come from that are the API servers' (PINPOOL_WEBHOOK_API_SERVERS),
 * for a webhook without mutual TLS: they are never rate-limited nor have their claims
 * settled early, whatever the rate of genuine admissions. Every other source is a stranger.
 */
import { AddressError, parseAddress } from "../ip/address.js";
import { type Cidr, cidrBounds, parseCidr } from "../ip/cidr.js";

export class ApiServerSources {
  private constructor(private readonly cidrs: readonly Cidr[]) {}

  /** From a comma-separated list of CIDRs (or single addresses); throws naming the bad entry. */
  static parse(list: string, setting = "PINPOOL_WEBHOOK_API_SERVERS"): ApiServerSources {
    const entries = list.split(",").map((e) => e.trim()).filter((e) => e !== "");
    return new ApiServerSources(
      entries.map((e) => {
        const text = e.includes("/") ? e : `${e}/${e.includes(":") ? 128 : 32}`;
        try {
          return parseCidr(text, `${setting} entry`);
        } catch (err) {
          throw new Error(`${setting}=${JSON.stringify(list)}: ${(err as Error).message}; expected CIDRs or addresses, comma-separated`, { cause: err });
        }
      }),
    );
  }

  /** Whether `ip` (as Node reports a peer, IPv4 possibly as ::ffff:a.b.c.d) is an API server's. */
  includes(ip: string): boolean {
    const text = ip.startsWith("::ffff:") && ip.includes(".") ? ip.slice(7) : ip;
    let address;
    try {
      address = parseAddress(text);
    } catch (e) {
      if (e instanceof AddressError) return false;
      throw e;
    }
    return this.cidrs.some((c) => {
      if (c.family !== address.family) return false;
      const { start, end } = cidrBounds(c);
      return address.value >= start && address.value <= end;
    });
  }
}
