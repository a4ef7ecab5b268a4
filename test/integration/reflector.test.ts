/**
 * src/k8s/reflector.ts against the real API server: the paginated list, what `keep` stores,
 * every change as it lands, and a restart that lists afresh and reports what went missing
 * while it was stopped. ConfigMaps in a namespace of the test's own stand in for pods.
 */
import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { createNamespace, kubectl, waitFor } from "../../scripts/cluster/local.js";
import { GROUP, PLURAL, VERSION } from "../../src/api/types.js";
import { Reflector, type Stored } from "../../src/k8s/reflector.js";
import { cluster } from "./setup.js";

type Kept = Stored & { value?: string };

describe("Reflector (paginated list, watch, restart) through the real API server", function () {
  this.timeout(120_000);
  let namespace: string;
  let reflector: Reflector<k8s.V1ConfigMap, Kept> | undefined;
  const changes: Array<{ key: string; before?: string; after?: string }> = [];
  const pages: number[] = [];

  const configMap = (name: string, value: string): k8s.V1ConfigMap => ({ metadata: { name, labels: { "reflector-test": "yes" } }, data: { value, bulk: "x".repeat(1000) } });

  beforeEach(async () => {
    namespace = await createNamespace(cluster().core);
    changes.length = 0;
    pages.length = 0;
  });
  afterEach(async () => {
    await reflector?.stop();
    await kubectl(["delete", "namespace", namespace, "--wait=false"]);
  });

  const start = async (): Promise<Reflector<k8s.V1ConfigMap, Kept>> => {
    const core = cluster().core;
    const labelSelector = "reflector-test=yes";
    reflector = new Reflector<k8s.V1ConfigMap, Kept>(cluster().kc, {
      path: `/api/v1/namespaces/${namespace}/configmaps`,
      labelSelector,
      pageSize: 2,
      listPage: async (page) => {
        const list = await core.listNamespacedConfigMap({ namespace, labelSelector, ...page });
        pages.push(list.items.length);
        return list;
      },
      keep: (c) => ({ metadata: { name: c.metadata?.name, namespace: c.metadata?.namespace, resourceVersion: c.metadata?.resourceVersion }, value: c.data?.value }),
      onChange: (key, before, after) => changes.push({ key, ...(before ? { before: before.value } : {}), ...(after ? { after: after.value } : {}) }),
      onError: (e) => console.error("reflector error", e),
    });
    await reflector.start();
    return reflector;
  };

  it("lists every page, stores only what keep keeps, and follows creates, updates and deletes", async () => {
    const core = cluster().core;
    for (let i = 0; i < 5; i++) await core.createNamespacedConfigMap({ namespace, body: configMap(`c${i}`, `v${i}`) });
    const r = await start();
    expect(r.live).to.equal(true);
    expect(pages, "five objects in pages of two").to.deep.equal([2, 2, 1]);
    expect([...r.items.keys()].sort()).to.deep.equal([0, 1, 2, 3, 4].map((i) => `${namespace}/c${i}`));
    expect(r.items.get(`${namespace}/c3`)).to.deep.equal({ metadata: { name: "c3", namespace, resourceVersion: r.items.get(`${namespace}/c3`)?.metadata?.resourceVersion }, value: "v3" });
    expect(changes.map((c) => c.after).sort()).to.deep.equal(["v0", "v1", "v2", "v3", "v4"]);

    changes.length = 0;
    await core.createNamespacedConfigMap({ namespace, body: configMap("c5", "v5") });
    await core.replaceNamespacedConfigMap({ namespace, name: "c1", body: configMap("c1", "v1b") });
    await core.deleteNamespacedConfigMap({ namespace, name: "c2" });
    await waitFor("the three changes", 30_000, () => Promise.resolve(changes.length >= 3 ? true : undefined));
    expect(changes).to.deep.equal([
      { key: `${namespace}/c5`, after: "v5" },
      { key: `${namespace}/c1`, before: "v1", after: "v1b" },
      { key: `${namespace}/c2`, before: "v2" },
    ]);
    expect(r.items.has(`${namespace}/c2`)).to.equal(false);
    expect(r.items.get(`${namespace}/c1`)?.value).to.equal("v1b");
  });

  it("a restart lists afresh: what changed or went while it was stopped is reported, what stayed is not", async () => {
    const core = cluster().core;
    for (let i = 0; i < 3; i++) await core.createNamespacedConfigMap({ namespace, body: configMap(`c${i}`, `v${i}`) });
    const r = await start();
    await r.stop();
    expect(r.live, "a stopped reflector does not claim to follow").to.equal(false);
    await core.deleteNamespacedConfigMap({ namespace, name: "c0" });
    await core.replaceNamespacedConfigMap({ namespace, name: "c1", body: configMap("c1", "v1b") });
    await core.createNamespacedConfigMap({ namespace, body: configMap("c3", "v3") });
    changes.length = 0;
    await r.start();
    expect(r.live).to.equal(true);
    expect(changes.sort((a, b) => a.key.localeCompare(b.key))).to.deep.equal([
      { key: `${namespace}/c0`, before: "v0" },
      { key: `${namespace}/c1`, before: "v1", after: "v1b" },
      { key: `${namespace}/c3`, after: "v3" },
    ]);
    expect([...r.items.keys()].sort()).to.deep.equal([1, 2, 3].map((i) => `${namespace}/c${i}`));
  });

  it("pages a custom resource collection too (its continue token comes as JSON's `continue`)", async () => {
    const custom = cluster().custom;
    const labelSelector = `reflector-test=${namespace}`;
    const plural = PLURAL.SpiderReservedIP;
    const names = [0, 1, 2, 3, 4].map((i) => `${namespace}-r${i}`);
    try {
      for (const [i, name] of names.entries()) {
        const body = { apiVersion: `${GROUP}/${VERSION}`, kind: "SpiderReservedIP", metadata: { name, labels: { "reflector-test": namespace } }, spec: { ipVersion: 4, ips: [`198.51.100.${i + 1}`] } };
        await custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural, body });
      }
      const r = new Reflector<Stored, Stored>(cluster().kc, {
        path: `/apis/${GROUP}/${VERSION}/${plural}`,
        labelSelector,
        pageSize: 2,
        listPage: async (page) => {
          const list = (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural, labelSelector, ...page })) as { items: Stored[] };
          pages.push(list.items.length);
          return list;
        },
        keep: (o) => o,
      });
      reflector = r;
      await r.start();
      expect(pages).to.deep.equal([2, 2, 1]);
      expect([...r.items.keys()].sort()).to.deep.equal(names.map((n) => `/${n}`));
    } finally {
      await custom.deleteCollectionClusterCustomObject({ group: GROUP, version: VERSION, plural, labelSelector });
    }
  });
});
