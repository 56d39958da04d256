// Sign-in: email and password, then on to the dashboard (or back to the page that asked for it).
import {signIn} from "./auth.js";

const config = window.PORTAL_CONFIG;
const form = document.getElementById("sign-in");
const error = document.getElementById("error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  try {
    await signIn(form.elements.email.value, form.elements.password.value);
    window.location.assign(nextPage());
  } catch (failure) {
    error.textContent = failure.message;
  }
});

function nextPage() {
  const next = new URLSearchParams(window.location.search).get("next");
  return next?.startsWith("/") && !next.startsWith("//") ? next : "/dashboard";  // this site's pages only
}

// The local stack's seeded contacts, one click to fill in (config.js lists them only locally).
for (const account of config.demoAccounts ?? []) {
  const button = Object.assign(document.createElement("button"), {type: "button", className: "link"});
  button.textContent = `${account.name} (${account.company}): ${account.email}`;
  button.addEventListener("click", () => {
    form.elements.email.value = account.email;
    form.elements.password.value = account.password;
  });
  const item = document.createElement("li");
  item.append(button);
  document.querySelector("#demo-accounts ul").append(item);
  document.getElementById("demo-accounts").hidden = false;
}
