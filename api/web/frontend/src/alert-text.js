// How an alert reads in the list of "my alerts": what it watches, in a few words
// ("Used ≤ $20.00", "Used, 10 % below $54.00", "Back in stock"), where it goes and in
// what state it is. The series names match the subscribe form; amounts are written as
// pricewatch/money.py format_money writes them, with the marketplace's rules that the
// page hands over (api/web/controllers.py MARKET_FORMATS).
import { formatMoney } from "pricewatch-shared-js/money.js";

export const SERIES_NAMES = {
  cheapest_new: "Cheapest new",
  amazon: "Amazon",
  new: "New (third parties)",
  used: "Used",
  list: "List price",
  buybox: "Buy box",
};

export const CHANNEL_NAMES = { EMAIL: "E-mail", SMS: "SMS", WEBHOOK: "Webhook", APPRISE: "Apprise" };

export function isBackInStock(subscription) {
  return subscription.kind === "back_in_stock";
}

export function isPercent(subscription) {
  return subscription.thresholdPercent !== null && subscription.thresholdPercent !== undefined;
}

// Amounts are written by the shared formatter (api/shared-js/money.js), digit for
// digit like format_money, with the marketplace's rules the page hands over; without
// rules (an unknown marketplace) the amount and its currency code.
export { formatMoney };

function percentText(value) {
  return `${Number(value.toFixed(2))} %`;
}

// "Used ≤ $20.00" for a price alert, "Used, 10 % below $54.00 (≤ $48.60)" for one in
// percent of the price when it was set, "Back in stock" for the other kind.
export function alertText(subscription, rules) {
  if (isBackInStock(subscription)) return "Back in stock";
  const series = SERIES_NAMES[subscription.series] || subscription.series;
  const money = (value) => formatMoney(value, subscription.currency, rules);
  if (isPercent(subscription) && subscription.basePrice !== null) {
    return `${series}, ${percentText(subscription.thresholdPercent)} below ` +
      `${money(subscription.basePrice)} (≤ ${money(subscription.threshold)})`;
  }
  return `${series} ≤ ${money(subscription.threshold)}`;
}

// The channel in words and where it goes: ["E-mail", "to me@example.org"]; an e-mail
// alert without a target goes to the account's address.
export function channelText(subscription) {
  const channel = CHANNEL_NAMES[subscription.notificationType] || subscription.notificationType;
  const to = subscription.target ? `to ${subscription.target}` : "to your account's e-mail";
  return [channel, to];
}

// The state of an alert: a short word for the list ("Active", "Paused", "Waiting for
// confirmation", "Fired") and a line that says what it means.
export function stateText(subscription) {
  if (subscription.status === "unconfirmed") {
    return ["Waiting for confirmation", "starts once its address is confirmed (see My account)"];
  }
  if (subscription.status === "paused") return ["Paused", "sends nothing until you resume it"];
  if (isBackInStock(subscription)) {
    return subscription.armed
      ? ["Active", "out of stock: waiting for its return"]
      : ["Active", "in stock now; re-arms when it goes out of stock"];
  }
  return subscription.armed
    ? ["Active", "tells you when the price gets there"]
    : ["Fired", "sent; re-arms above the threshold"];
}
