/**
 * Coarse geography for shipping: the continent of a country (ISO 3166-1 alpha-2), and the
 * distance tier between a shipping country and a warehouse's country (docs/inventory.md,
 * "Warehouse allocation"): 0 the same country, 1 the same continent, 2 elsewhere.
 */
const CONTINENTS: Record<string, string> = {
  AF: 'DZ AO BJ BW BF BI CV CM CF TD KM CG CD CI DJ EG GQ ER SZ ET GA GM GH GN GW KE LS LR LY MG MW ML MR MU YT MA MZ NA NE NG RE RW SH ST SN SC SL SO ZA SS SD TZ TG TN UG EH ZM ZW',
  AN: 'AQ BV GS HM TF',
  AS: 'AF AM AZ BH BD BT BN KH CN CY GE HK IN ID IR IQ IL JP JO KZ KW KG LA LB MO MY MV MN MM NP KP OM PK PS PH QA SA SG KR LK SY TW TJ TH TL TR TM AE UZ VN YE IO CC CX',
  EU: 'AX AL AD AT BY BE BA BG HR CZ DK EE FO FI FR DE GI GR GG HU IS IE IM IT JE XK LV LI LT LU MT MD MC ME NL MK NO PL PT RO RU SM RS SK SI ES SJ SE CH UA GB VA',
  NA: 'AI AG AW BS BB BZ BM BQ VG CA KY CR CU CW DM DO SV GL GD GP GT HT HN JM MQ MX MS NI PA PR BL KN LC MF PM VC SX TT TC US UM VI',
  OC: 'AS AU CK FJ PF GU KI MH FM NR NC NZ NU NF MP PW PG PN WS SB TK TO TV VU WF',
  SA: 'AR BO BR CL CO EC FK GF GY PY PE SR UY VE',
};

const CONTINENT_OF = new Map<string, string>(Object.entries(CONTINENTS).flatMap(([continent, list]) => list.split(' ').map((c) => [c, continent] as const)));

/** The continent code (AF, AN, AS, EU, NA, OC, SA) of a country, or null for an unknown code. */
export function continentOf(country: string): string | null {
  return CONTINENT_OF.get(country.toUpperCase()) ?? null;
}

/** 0 the same country, 1 the same continent, 2 elsewhere (or a country this table does not know). */
export function distanceTier(from: string, to: string): 0 | 1 | 2 {
  if (from.toUpperCase() === to.toUpperCase()) return 0;
  const a = continentOf(from);
  return a !== null && a === continentOf(to) ? 1 : 2;
}
