// The seed's InvoicePaymentModal: Stripe's embedded Checkout in a modal. Opening it creates the Checkout Session
// (fetchClientSecret calls the checkout route); once the payment is done, Stripe sends the browser to the
// session's return_url, /dashboard?session_id=...&invoice_id=..., where the dashboard verifies it.
import {createCheckout} from "./api.js";
import {formatAmount} from "./format.js";

const config = window.PORTAL_CONFIG;
let stripe = null;

// What @stripe/stripe-js's loadStripe does: add the Stripe.js script once, then make the Stripe object.
function loadStripe() {
  stripe ??= new Promise((resolve, reject) => {
    const script = Object.assign(document.createElement("script"), {src: config.stripeJsUrl});
    script.addEventListener("load", () => resolve(window.Stripe(config.stripePublishableKey)));
    script.addEventListener("error", () => reject(new Error("Stripe.js could not be loaded.")));
    document.head.append(script);
  });
  return stripe;
}

export async function openPaymentModal(invoice, onClosed) {
  const dialog = document.getElementById("payment");
  const error = dialog.querySelector(".error");
  dialog.querySelector(".title").textContent =
    `Pay ${invoice.invoiceNumber}: ${formatAmount(invoice.amount, invoice.currency)}`;
  error.textContent = "";
  let checkout = null;
  dialog.addEventListener("close", () => {
    checkout?.destroy();  // Stripe.js allows one embedded Checkout at a time
    onClosed();
  }, {once: true});
  dialog.showModal();
  try {
    checkout = await (await loadStripe()).initEmbeddedCheckout({
      fetchClientSecret: async () => (await createCheckout(invoice.id)).clientSecret,
    });
    if (dialog.open) checkout.mount(dialog.querySelector(".checkout"));
    else checkout.destroy();  // closed while it loaded
  } catch (failure) {
    error.textContent = failure.message;  // e.g. 409 "invoice not payable": paid meanwhile
  }
}
