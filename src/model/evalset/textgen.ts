/** Seeded English text lines: words, numbers and punctuation of varied lengths. */
import type { Rng } from "./prng.js";

const WORDS = (
  "the of and to in is that for it as was with be by on not he this are or his from at which but have an they " +
  "you were her all she there would their we him been has when who will more no if out so said what up its about " +
  "into than them can only other new some could time these two may then do first any my now such like our over man " +
  "me even most made after also did many before must through back years where much your way well down should because " +
  "each just those people how too little state good very make world still own see men work long get here between both " +
  "life being under never day same another know while last might us great old year off come since against go came right " +
  "used take three states himself few house use during without again place around however home small found thought went " +
  "say part once general high upon school every does got united left number course war until always away something fact " +
  "though water less public put think almost hand enough far took head yet government system better set told nothing night " +
  "end why called eyes find going look asked later knew point next program city business give group toward young days let " +
  "room president side social given present several order national possible rather second face per among form important " +
  "often things looked early white case john become large big need four within felt along children saw best church ever " +
  "least power development light thing seemed family interest want members mind country area others done turned although " +
  "open problem service certain kind different thus began door help means sense whole matter perhaps itself york times law " +
  "human line above name example action company hands local show whether five history gave today either act feet across " +
  "taken past quite anything having seen death experience body word half really week field money report market price " +
  "total invoice receipt account station street avenue road north south east west morning evening coffee bread water " +
  "ticket train platform gate exit entrance warning notice please thank welcome open closed monday friday january april"
).split(" ");

const TITLE_WORDS = ["Total", "Invoice", "Room", "Order", "Page", "Gate", "Platform", "Chapter", "Table", "Figure", "Item", "Section", "Flight", "Seat", "Ref"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const END_PUNCT = [".", ".", ".", "!", "?", ":", ";", "..."];

function casing(w: string, mode: number): string {
  if (mode === 1) return w.toUpperCase();
  if (mode === 2) return w.charAt(0).toUpperCase() + w.slice(1);
  return w;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function numberToken(rng: Rng): string {
  switch (rng.int(0, 9)) {
    case 0:
      return `$${rng.int(1, 999)}.${pad2(rng.int(0, 99))}`;
    case 1:
      return `${rng.int(1, 28)}/${pad2(rng.int(1, 12))}/${rng.int(1990, 2030)}`;
    case 2:
      return `${rng.int(1990, 2030)}-${pad2(rng.int(1, 12))}-${pad2(rng.int(1, 28))}`;
    case 3:
      return `${rng.int(0, 23)}:${pad2(rng.int(0, 59))}`;
    case 4:
      return `${rng.int(1, 100)}%`;
    case 5:
      return `(${rng.int(200, 999)}) ${rng.int(200, 999)}-${rng.int(1000, 9999)}`;
    case 6:
      return `#${rng.int(10, 99999)}`;
    case 7:
      return `${rng.int(1, 28)} ${rng.pick(MONTHS)} ${rng.int(1990, 2030)}`;
    case 8:
      return String(rng.int(1000, 99999)).replace(/\B(?=(\d{3})+$)/g, ",");
    default:
      return `${rng.int(0, 999)}.${rng.int(0, 9)}`;
  }
}

/** One line of text, 1..~45 characters. */
export function textLine(rng: Rng): string {
  const kind = rng.next();
  if (kind < 0.6) {
    // a phrase: 1-7 words, commas, end punctuation, an occasional number
    const n = rng.int(1, 7);
    const mode = rng.next() < 0.12 ? 1 : rng.next() < 0.35 ? 2 : 0;
    const words: string[] = [];
    for (let i = 0; i < n; i++) {
      let w = rng.chance(0.08) ? numberToken(rng) : casing(rng.pick(WORDS), mode);
      if (i === 0 && mode === 0 && rng.chance(0.5)) w = casing(w, 2);
      if (i < n - 1 && rng.chance(0.1)) w += ",";
      words.push(w);
    }
    let s = words.join(" ");
    if (rng.chance(0.5)) s += rng.pick(END_PUNCT);
    if (rng.chance(0.06)) s = `"${s}"`;
    else if (rng.chance(0.05)) s = `(${s})`;
    return s;
  }
  if (kind < 0.85) {
    // a label and a value: "Total: $12.50", "Room 204", "Invoice #4821"
    const label = rng.chance(0.7) ? rng.pick(TITLE_WORDS) : casing(rng.pick(WORDS), 2);
    const sep = rng.pick([": ", " ", " - ", " = "]);
    return `${rng.chance(0.2) ? label.toUpperCase() : label}${sep}${numberToken(rng)}`;
  }
  if (kind < 0.93) {
    // numbers only
    const n = rng.int(1, 3);
    const parts: string[] = [];
    for (let i = 0; i < n; i++) parts.push(numberToken(rng));
    return parts.join(rng.pick([" ", "  ", ", ", " / "]));
  }
  // a short heading in capitals
  const n = rng.int(1, 3);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(rng.pick(WORDS).toUpperCase());
  return parts.join(" ");
}
