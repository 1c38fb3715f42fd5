// How an alert reads in the list of "my alerts": what it watches, in a few words
// ("Used ≤ $20.00", "Back in stock"). The series names match the subscribe form.

export const SERIES_NAMES = {
  cheapest_new: "Cheapest new",
  amazon: "Amazon",
  new: "New (third parties)",
  used: "Used",
  list: "List price",
  buybox: "Buy box",
};

export function isBackInStock(subscription) {
  return subscription.kind === "back_in_stock";
}

function money(value, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(value);
  } catch {
    return `${value} ${currency}`;
  }
}

// "Used ≤ $20.00" for a price alert, "Back in stock" for the other kind.
export function alertText(subscription) {
  if (isBackInStock(subscription)) return "Back in stock";
  const series = SERIES_NAMES[subscription.series] || subscription.series;
  return `${series} ≤ ${money(subscription.threshold, subscription.currency)}`;
}
