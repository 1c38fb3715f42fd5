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
