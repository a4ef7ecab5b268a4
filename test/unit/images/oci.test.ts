import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { IMAGE_NAME_ANNOTATION, MEDIA_TYPES, REF_NAME_ANNOTATION, tagOf, writeOciArchive } from "../../../scripts/images/oci.js";

const run = promisify(execFile);

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string };
  annotations?: Record<string, string>;
}

async function sha256(file: string): Promise<string> {
  return `sha256:${createHash("sha256")
    .update(await readFile(file))
    .digest("hex")}`;
}

/** Reads a blob from an extracted layout, checking it against its descriptor. */
async function blob(layout: string, d: Descriptor): Promise<string> {
  const file = path.join(layout, "blobs", "sha256", d.digest.replace(/^sha256:/, ""));
  expect(await sha256(file), `digest of ${d.mediaType}`).to.equal(d.digest);
  expect((await stat(file)).size, `size of ${d.mediaType}`).to.equal(d.size);
  return file;
}

describe("scripts/images/oci.ts: OCI image archives from a staged rootfs", () => {
  let dir: string;
  let rootfs: string;
  const names = ["docker.io/library/nginx:latest", "pinpool.local/httpd:1"];
  const config = { entrypoint: ["/bin/hello"], cmd: ["--loud"], env: ["PATH=/bin"], workingDir: "/www", user: "65532:65532" };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "pinpool-oci-"));
    rootfs = path.join(dir, "rootfs");
    await mkdir(path.join(rootfs, "bin"), { recursive: true });
    await mkdir(path.join(rootfs, "tmp"));
    await chmod(path.join(rootfs, "tmp"), 0o1777);
    await writeFile(path.join(rootfs, "bin/hello"), "#!/bin/sh\necho hello\n");
    await chmod(path.join(rootfs, "bin/hello"), 0o755);
    await symlink("hello", path.join(rootfs, "bin/hi"));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes an image layout that reads back: index → manifest → config → one uncompressed layer, named for containerd", async () => {
    const written = await writeOciArchive({ names, rootfs, config }, path.join(dir, "a.tar"));
    const layout = path.join(dir, "layout");
    await mkdir(layout);
    await run("tar", ["-xf", written.path, "-C", layout]);

    expect(JSON.parse(await readFile(path.join(layout, "oci-layout"), "utf8"))).to.deep.equal({ imageLayoutVersion: "1.0.0" });
    const index = JSON.parse(await readFile(path.join(layout, "index.json"), "utf8")) as { schemaVersion: number; mediaType: string; manifests: Descriptor[] };
    expect(index.schemaVersion).to.equal(2);
    expect(index.mediaType).to.equal(MEDIA_TYPES.index);
    // One manifest, one index entry per name.
    expect(index.manifests.map((m) => m.annotations)).to.deep.equal([
      { [IMAGE_NAME_ANNOTATION]: "docker.io/library/nginx:latest", [REF_NAME_ANNOTATION]: "latest" },
      { [IMAGE_NAME_ANNOTATION]: "pinpool.local/httpd:1", [REF_NAME_ANNOTATION]: "1" },
    ]);
    expect(new Set(index.manifests.map((m) => m.digest)).size).to.equal(1);
    const entry = index.manifests[0] as Descriptor;
    expect(entry.mediaType).to.equal(MEDIA_TYPES.manifest);
    expect(entry.platform).to.deep.equal({ architecture: "amd64", os: "linux" });
    expect(entry.digest).to.equal(written.manifestDigest);

    const manifest = JSON.parse(await readFile(await blob(layout, entry), "utf8")) as { schemaVersion: number; mediaType: string; config: Descriptor; layers: Descriptor[] };
    expect(manifest.schemaVersion).to.equal(2);
    expect(manifest.mediaType).to.equal(MEDIA_TYPES.manifest);
    expect(manifest.config.mediaType).to.equal(MEDIA_TYPES.config);
    expect(manifest.layers).to.have.length(1);
    const layerDesc = manifest.layers[0] as Descriptor;
    expect(layerDesc.mediaType).to.equal(MEDIA_TYPES.layer);
    const layerFile = await blob(layout, layerDesc);
    expect(layerDesc.digest).to.equal(written.layerDigest);

    const image = JSON.parse(await readFile(await blob(layout, manifest.config), "utf8")) as Record<string, unknown>;
    expect(image).to.deep.include({ architecture: "amd64", os: "linux", created: "1970-01-01T00:00:00Z" });
    // Uncompressed: the diff_id is the layer blob's own digest.
    expect(image.rootfs).to.deep.equal({ type: "layers", diff_ids: [await sha256(layerFile)] });
    expect(image.config).to.deep.equal({ Entrypoint: ["/bin/hello"], Cmd: ["--loud"], Env: ["PATH=/bin"], WorkingDir: "/www", User: "65532:65532" });

    // The layer: plain tar, root-owned, epoch mtimes, modes kept, no "./" entry for "/".
    const { stdout } = await run("tar", ["--numeric-owner", "-tvf", layerFile]);
    const lines = stdout.trim().split("\n");
    expect(lines.map((l) => l.split(/\s+/).slice(5).join(" "))).to.deep.equal(["bin/", "bin/hello", "bin/hi -> hello", "tmp/"]);
    for (const l of lines) expect(l).to.match(/^\S+ 0\/0 +\d+ 1970-01-01 00:00 /);
    expect(lines[1]).to.match(/^-rwxr-xr-x /);
    expect(lines[3]).to.match(/^drwxrwxrwt /);
  });

  it("gives the same digests and bytes for the same input, whatever the files' mtimes", async () => {
    const first = await writeOciArchive({ names, rootfs, config }, path.join(dir, "b.tar"));
    await utimes(path.join(rootfs, "bin/hello"), new Date(2001, 1, 1), new Date(2001, 1, 1));
    const second = await writeOciArchive({ names, rootfs, config }, path.join(dir, "c.tar"));
    expect(second.layerDigest).to.equal(first.layerDigest);
    expect(second.manifestDigest).to.equal(first.manifestDigest);
    expect(await sha256(second.path)).to.equal(await sha256(first.path));

    await writeFile(path.join(rootfs, "bin/hello"), "#!/bin/sh\necho bye\n");
    const changed = await writeOciArchive({ names, rootfs, config }, path.join(dir, "d.tar"));
    expect(changed.layerDigest).not.to.equal(first.layerDigest);
  });

  it("takes the tag from a name (latest when none), past a registry port; refuses a digest", () => {
    expect(tagOf("docker.io/library/nginx:latest")).to.equal("latest");
    expect(tagOf("registry.k8s.io/pause:3.10.2")).to.equal("3.10.2");
    expect(tagOf("localhost:5000/app")).to.equal("latest");
    expect(tagOf("nginx")).to.equal("latest");
    expect(() => tagOf("nginx@sha256:abc")).to.throw("holds a digest");
  });

  it("refuses an empty name list or an empty rootfs", async () => {
    let err: unknown;
    await writeOciArchive({ names: [], rootfs, config }, path.join(dir, "e.tar")).catch((e: unknown) => (err = e));
    expect(String(err)).to.contain("at least one image name");
    const empty = path.join(dir, "empty");
    await mkdir(empty);
    err = undefined;
    await writeOciArchive({ names, rootfs: empty, config }, path.join(dir, "f.tar")).catch((e: unknown) => (err = e));
    expect(String(err)).to.contain("is empty");
  });
});
