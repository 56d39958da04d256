// Money and dates as a person reads them. The API sends amounts as numbers in major units (README, "API"); Intl
// knows each currency's decimals (JPY none, KWD three), so nothing here multiplies or rounds: display only.
export function formatAmount(amount, currency) {
  return new Intl.NumberFormat(undefined, {style: "currency", currency: currency.trim().toUpperCase()})
    .format(amount);
}

// Dates are UTC instants (ISO 8601); a due date is shown as the UTC calendar day it names.
export function formatDate(isoDate) {
  return isoDate ? new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeZone: "UTC"})
    .format(new Date(isoDate)) : "—";
}
