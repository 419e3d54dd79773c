// How the admin page writes numbers, money and dates for a Brazilian reader. Money arrives as
// a decimal string ("1234.5678") and is rounded half-up to cents on the digits themselves
// (BigInt), as nodes/money.py does with Decimal, never through a float.
"use strict";

(function () {
  const DECIMAL = /^([+-]?)(\d+)(?:\.(\d*))?$/;

  function groupThousands(digits) {
    return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ".");
  }

  // "1234.555" → "R$ 1.234,56"; anything that is not a decimal → "—".
  function brl(value) {
    const match = DECIMAL.exec(String(value).trim());
    if (!match) return "—";
    const [, sign, whole, fraction = ""] = match;
    const padded = (fraction + "000").slice(0, 3);
    let cents = BigInt(whole) * 100n + BigInt(padded.slice(0, 2));
    if (Number(padded[2]) >= 5) cents += 1n; // half-up: away from zero
    const reais = (cents / 100n).toString();
    const rest = (cents % 100n).toString().padStart(2, "0");
    const negative = sign === "-" && cents !== 0n;
    return `${negative ? "-" : ""}R$ ${groupThousands(reais)},${rest}`;
  }

  // 1234 → "1.234"
  function integer(value) {
    return groupThousands(String(Math.trunc(Number(value) || 0)));
  }

  // 0.0625 → "6,3%"
  function percent(rate) {
    const value = Math.round((Number(rate) || 0) * 1000) / 10;
    return `${value.toFixed(1).replace(".", ",")}%`;
  }

  // 1234 → "1.234 ms"; null (no turns yet) → "—"
  function millis(value) {
    return value === null || value === undefined ? "—" : `${integer(value)} ms`;
  }

  // An ISO timestamp → "07/12/2026, 01:59:40", in Brasília's time like the day's figures.
  function dateTime(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return String(iso);
    return date.toLocaleString("pt-BR", { timeZone: "America/Sao_Paulo" });
  }

  window.adminFormat = Object.freeze({ brl, integer, percent, millis, dateTime });
})();
