// What every page script shares: what a page's message element says, and forms that
// are handled here instead of being submitted by the browser. Every text goes in with
// textContent (or as a text node), never as markup.
import { ApiError } from "./api.js";

export function say(element, text, isError = false) {
  element.textContent = text;
  element.classList.toggle("error", isError);
}

function errorText(error) {
  return error instanceof ApiError ? error.message : `Network problem: ${error.message}`;
}

// What went wrong with a call to the API, said in the message element.
export function sayFailure(element, error) {
  say(element, errorText(error), true);
}

// "text " followed by a link, in a message element
export function sayWithLink(element, text, href, linkText, isError = false) {
  const link = document.createElement("a");
  link.href = href;
  link.textContent = linkText;
  element.replaceChildren(text, link);
  element.classList.toggle("error", isError);
}

// The form `formId` of this page, if it has one: each submission runs
// `submit(form, message)` instead, `message` being the element `messageId`.
export function handleForm(formId, messageId, submit) {
  const form = document.getElementById(formId);
  if (!form) return null;
  const message = document.getElementById(messageId);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit(form, message);
  });
  return form;
}

// Messages next to the fields they are about: `errors` maps a field's name to a
// sentence. Each goes after the field's label, is tied to the field by
// aria-describedby, and the first field with one takes the focus. True if any was shown.
export function showFieldErrors(form, errors) {
  clearFieldErrors(form);
  let first = null;
  for (const [name, text] of Object.entries(errors)) {
    const input = form.elements[name];
    if (!input || !text) continue;
    const note = document.createElement("span");
    note.className = "field-error";
    note.id = `${form.id}-${name}-error`;
    note.dataset.fieldError = name;
    note.textContent = text;
    (input.closest("label") || input).after(note);
    input.setAttribute("aria-invalid", "true");
    input.dataset.describedBy = input.getAttribute("aria-describedby") || "";
    input.setAttribute("aria-describedby", `${input.dataset.describedBy} ${note.id}`.trim());
    first = first || input;
  }
  first?.focus();
  return first !== null;
}

export function clearFieldErrors(form) {
  for (const note of form.querySelectorAll(".field-error")) note.remove();
  for (const input of form.querySelectorAll('[aria-invalid="true"]')) {
    input.removeAttribute("aria-invalid");
    if (input.dataset.describedBy) input.setAttribute("aria-describedby", input.dataset.describedBy);
    else input.removeAttribute("aria-describedby");
    delete input.dataset.describedBy;
  }
}

// What a 400 of the API says about each field: `rules` maps a field of the form to
// [how the API names it, a pattern of the API's sentence about it, what to say]. The
// API names the field in a validation error's "extra" (its decoder's wording, replaced
// by `say`); a service's refusal is one sentence in "detail", matched by the pattern
// and shown as the API wrote it unless `say` is given. Empty when none applies.
export function fieldErrorsOf(error, rules) {
  const body = error instanceof ApiError && error.status === 400 ? error.body : null;
  if (!body || typeof body !== "object") return {};
  const errors = {};
  const extra = Array.isArray(body.extra) ? body.extra : [];
  for (const [field, [key, pattern, sayInstead]] of Object.entries(rules)) {
    const named = extra.find((e) => e && e.key === key);
    if (named) errors[field] = typeof sayInstead === "function" ? sayInstead(named.message || "") : sayInstead;
    else if (!extra.length && pattern.test(body.detail || "")) {
      errors[field] = typeof sayInstead === "function" ? sayInstead(body.detail) : sayInstead || body.detail;
    }
  }
  return errors;
}
