import { describe, expect, it } from "vitest";
import { boardMismatch } from "../../src/hw/boardMismatch.js";
import { boardProfile } from "../../src/hw/boardProfile.js";

describe("boardMismatch", () => {
  const pi4 = boardProfile("raspberry-pi-4");

  it("the shipped Pi and Jetson profiles name their architectures; generic-x86 matches anything", () => {
    expect(pi4.cpu?.arch).toEqual(["arm64", "arm"]);
    expect(boardProfile("jetson-orin-nano").cpu?.arch).toEqual(["arm64"]);
    expect(boardMismatch(boardProfile("generic-x86"), { arch: "arm64", cpus: 96 })).toBeNull();
  });

  it("matches by architecture and core count, and says what it found when not", () => {
    expect(boardMismatch(pi4, { arch: "arm64", cpus: 4 })).toBeNull();
    expect(boardMismatch(pi4, { arch: "arm", cpus: 4 })).toBeNull();
    expect(boardMismatch(pi4, { arch: "x64", cpus: 4 })).toMatch(/is for a 4-core arm64\/arm board, but this machine is x64 with 4 CPUs: the estimate uses raspberry-pi-4 anyway/);
    expect(boardMismatch(pi4, { arch: "arm64", cpus: 6 })).toMatch(/this machine is arm64 with 6 CPUs/);
    expect(boardMismatch(pi4, { arch: "arm64", cpus: 1 })).toMatch(/with 1 CPU:/);
    const noArch = { ...pi4, cpu: { ...(pi4.cpu as NonNullable<typeof pi4.cpu>), arch: undefined } };
    expect(boardMismatch(noArch, { arch: "riscv64", cpus: 4 })).toBeNull();
    expect(boardMismatch(noArch, { arch: "riscv64", cpus: 8 })).toMatch(/is for a 4-core board/);
  });
});
