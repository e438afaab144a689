import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url);
const read = (p: string) => readFileSync(new URL(p, root), "utf8");

describe("package wiring", () => {
  const pkg = JSON.parse(read("package.json"));
  it("NAPI_VERSION in native/CMakeLists.txt equals package.json binary.napi_versions", () => {
    const m = /-DNAPI_VERSION=(\d+)/.exec(read("native/CMakeLists.txt"));
    expect(m).not.toBeNull();
    expect(pkg.binary.napi_versions).toEqual([Number(m?.[1])]);
  });
  it("skips onnxruntime-node's CUDA download so npm ci works offline", () => {
    expect(read(".npmrc")).toMatch(/^onnxruntime-node-install=skip$/m);
  });
  it("builds the addon and the TypeScript on install and runs vitest", () => {
    expect(pkg.scripts.install).toMatch(/cmake-js compile/);
    expect(pkg.scripts.prepare).toMatch(/tsc/);
    expect(pkg.scripts.test).toMatch(/vitest run/);
    expect(pkg.bin.splitwatt).toBe("bin/splitwatt.js");
    expect(pkg.type).toBe("module");
    expect(pkg.engines.node).toBe(">=20");
  });
  it("main and types point at the public API module (src/index.ts compiled)", () => {
    expect(pkg.main).toBe("dist/index.js");
    expect(pkg.types).toBe("dist/index.d.ts");
    expect(read("src/index.ts")).toMatch(/export \{[^}]*\bSplitExecutor\b/);
    const tsconfig = JSON.parse(read("tsconfig.json"));
    expect([tsconfig.compilerOptions.rootDir, tsconfig.compilerOptions.outDir]).toEqual(["src", "dist"]);
  });
  it("CI runs npm ci then npm test under set -euo pipefail", () => {
    const ci = read(".ci/run");
    expect(ci).toMatch(/set -euo pipefail/);
    expect(ci.indexOf("npm ci")).toBeGreaterThan(-1);
    expect(ci.indexOf("npm test")).toBeGreaterThan(ci.indexOf("npm ci"));
  });
});
