// sign.js: IoTDA request authentication in the browser, byte for byte as
// iotda.SignRequest (Go) and Huawei's SDK do it (shared/reference/iotda.md
// §2.2): SDK-HMAC-SHA256 over a canonical request, with WebCrypto.
// Also: certificate fingerprints as IoTDA stores them.

const enc = new TextEncoder();

function hex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function sha256Hex(data) {
  const bytes = typeof data === "string" ? enc.encode(data) : data;
  return hex(await crypto.subtle.digest("SHA-256", bytes));
}

async function hmacHex(key, msg) {
  const k = await crypto.subtle.importKey("raw", enc.encode(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return hex(await crypto.subtle.sign("HMAC", k, enc.encode(msg)));
}

// escape percent-encodes every UTF-8 byte except A-Z a-z 0-9 _ - ~ . (uppercase hex).
export function escape(s) {
  let out = "";
  for (const b of enc.encode(s)) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9_\-~.]/.test(c)) {
      out += c;
    } else {
      out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
    }
  }
  return out;
}

// canonicalURI escapes each (unescaped) path segment and always ends with "/".
export function canonicalURI(path) {
  const segs = path.split("/").map((s) => {
    let raw = s;
    try {
      raw = decodeURIComponent(s);
    } catch {
      // keep a malformed escape as it is, like Go's url.PathUnescape fallback
    }
    return escape(raw);
  });
  let p = segs.join("/");
  if (p === "" || !p.endsWith("/")) {
    p += "/";
  }
  return p;
}

// canonicalQuery sorts keys and each key's values, escaping both.
export function canonicalQuery(rawQuery) {
  const byKey = new Map();
  for (const [k, v] of new URLSearchParams(rawQuery)) {
    if (!byKey.has(k)) byKey.set(k, []);
    byKey.get(k).push(v);
  }
  const parts = [];
  for (const k of [...byKey.keys()].sort(byteOrder)) {
    for (const v of byKey.get(k).sort(byteOrder)) {
      parts.push(escape(k) + "=" + escape(v));
    }
  }
  return parts.join("&");
}

function byteOrder(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

// signedHeaderNames: every header name lower-cased, except content-type*
// and names containing "_", sorted.
export function signedHeaderNames(headers) {
  const names = new Set();
  for (const k of Object.keys(headers)) {
    const n = k.toLowerCase();
    if (n.startsWith("content-type") || n.includes("_")) continue;
    names.add(n);
  }
  return [...names].sort(byteOrder);
}

function canonicalHeaders(headers, signed) {
  const byName = new Map();
  for (const [k, v] of Object.entries(headers)) {
    const n = k.toLowerCase();
    if (!byName.has(n)) byName.set(n, []);
    byName.get(n).push(String(v).trim());
  }
  const lines = [];
  for (const name of signed) {
    for (const v of (byName.get(name) || []).sort(byteOrder)) {
      lines.push(name + ":" + v);
    }
  }
  return lines.join("\n") + "\n";
}

// sdkDate formats a Date as X-Sdk-Date (20060102T150405Z, UTC).
export function sdkDate(d) {
  return d.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");
}

// signRequest returns the headers to send: the given ones plus X-Sdk-Date
// and Authorization. url is the path with its query ("/v5/iot/…?limit=50"),
// body the exact string sent ("" for none).
export async function signRequest({ method, url, headers, body, accessKey, secretKey, date }) {
  const all = { ...headers, "X-Sdk-Date": date || sdkDate(new Date()) };
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? "" : url.slice(q + 1);
  const signed = signedHeaderNames(all);
  const canonical = [
    method.toUpperCase(),
    canonicalURI(path),
    canonicalQuery(query),
    canonicalHeaders(all, signed),
    signed.join(";"),
    await sha256Hex(body || ""),
  ].join("\n");
  const stringToSign = "SDK-HMAC-SHA256\n" + all["X-Sdk-Date"] + "\n" + (await sha256Hex(canonical));
  const signature = await hmacHex(secretKey, stringToSign);
  all["Authorization"] = `SDK-HMAC-SHA256 Access=${accessKey}, SignedHeaders=${signed.join(";")}, Signature=${signature}`;
  return all;
}

// certificateDER returns the DER bytes of the first CERTIFICATE block of a
// PEM text, or throws with a sentence saying what is wrong.
export function certificateDER(pemText) {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pemText || "");
  if (!m) {
    throw new Error("no -----BEGIN CERTIFICATE----- block found");
  }
  let bin;
  try {
    bin = atob(m[1].replace(/\s+/g, ""));
  } catch {
    throw new Error("the CERTIFICATE block is not valid base64");
  }
  const der = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  if (der.length < 64 || der[0] !== 0x30) {
    throw new Error("the CERTIFICATE block is not a DER certificate");
  }
  return der;
}

// fingerprints returns IoTDA's fingerprints of a PEM certificate: lowercase
// hex, no separators (SHA-256: 64 digits; SHA-1: 40). [DEV-FINGERPRINT]
export async function fingerprints(pemText) {
  const der = certificateDER(pemText);
  return {
    sha256: hex(await crypto.subtle.digest("SHA-256", der)),
    sha1: hex(await crypto.subtle.digest("SHA-1", der)),
  };
}
