// The seed's dashboard: the company's invoices, and Pay Now for those still payable. Stripe returns the payer to
// /dashboard?session_id=...&invoice_id=...; the page then asks the verify route (the fallback for a webhook that
// is late or lost) and says how the payment ended. /dashboard?pdf=<invoiceId> (the link in a receipt email) downloads
// that invoice's PDF once signed in.
import {downloadInvoicePdf, listInvoices, verifyPayment} from "./api.js";
import {goToSignIn, idToken, signOut, signedInEmail} from "./auth.js";
import {formatAmount, formatDate} from "./format.js";
import {openPaymentModal} from "./payment-modal.js";

const config = window.PORTAL_CONFIG;
const PAYABLE = new Set(["pending", "failed"]);  // checkout answers 409 for the others
const REFRESH_WHILE_PROCESSING_MS = 2000;  // a bank debit settles by itself; its webhook marks the invoice
let invoices = [];
let refreshTimer = null;

async function main() {
  if (!idToken()) return goToSignIn();
  document.getElementById("who").textContent = signedInEmail();
  document.getElementById("sign-out").addEventListener("click", () => {
    signOut();
    window.location.assign("/");
  });
  const returned = new URLSearchParams(window.location.search);
  if (returned.has("session_id") && returned.has("invoice_id")) {
    await confirmPayment(returned.get("invoice_id"), returned.get("session_id"));
  } else {
    await refresh();
  }
  if (returned.has("pdf")) {
    window.history.replaceState(null, "", "/dashboard");  // a reload does not download again
    await downloadPdf(returned.get("pdf"));
  }
}

async function downloadPdf(invoiceId) {
  const number = invoices.find((invoice) => invoice.id === invoiceId)?.invoiceNumber ?? "invoice";
  try {
    await downloadInvoicePdf(invoiceId, `${number}.pdf`);
  } catch (failure) {
    notice(`The invoice's PDF could not be downloaded: ${failure.message}`, "error");
  }
}

async function confirmPayment(invoiceId, sessionId) {
  notice("Confirming your payment…", "info");
  let outcome;
  try {
    outcome = await verifyPayment(invoiceId, sessionId);
  } catch (failure) {
    outcome = {error: failure.message};
  }
  window.history.replaceState(null, "", "/dashboard");  // a reload does not verify again
  await refresh();
  const number = invoices.find((invoice) => invoice.id === invoiceId)?.invoiceNumber ?? "The invoice";
  if (outcome.error) notice(`The payment could not be confirmed: ${outcome.error}`, "error");
  else if (outcome.success) notice(`Payment received: ${number} is paid.`, "success");
  else if (outcome.status === "processing") {
    notice(`Your bank payment for ${number} is processing: this page shows when it has settled.`, "info");
  } else notice(`The payment for ${number} did not go through: you can try again.`, "error");
}

async function refresh() {
  clearTimeout(refreshTimer);
  try {
    invoices = await listInvoices();
  } catch (failure) {
    notice(`Your invoices could not be loaded: ${failure.message}`, "error");
    return;
  }
  render();
  if (invoices.some((invoice) => invoice.status === "processing")) {
    refreshTimer = setTimeout(refresh, REFRESH_WHILE_PROCESSING_MS);
  }
}

function render() {
  const rows = invoices.map((invoice) => {
    const row = document.getElementById("invoice-row").content.firstElementChild.cloneNode(true);
    row.dataset.invoice = invoice.id;
    const cell = (name, text) => { row.querySelector(`.${name}`).textContent = text; };
    cell("number", invoice.invoiceNumber);
    cell("description", invoice.description ?? "");
    cell("amount", formatAmount(invoice.amount, invoice.currency));
    cell("due", formatDate(invoice.dueDate));
    const status = row.querySelector(".status span");
    status.textContent = invoice.status;
    status.className = `badge ${invoice.status}`;
    if (invoice.paidByContactId) cell("paid-by", `${payerName(invoice.paidByContactId)}, ${formatDate(invoice.paidAt)}`);
    const pay = row.querySelector(".pay");
    if (PAYABLE.has(invoice.status)) pay.addEventListener("click", () => openPaymentModal(invoice, refresh));
    else pay.remove();
    row.querySelector(".pdf").addEventListener("click", () => downloadPdf(invoice.id));
    return row;
  });
  document.getElementById("invoices").replaceChildren(...rows);
  document.getElementById("empty").hidden = rows.length > 0;
}

// The API names the payer by contact id; a portal shows the name from its own Contact records. Here config.js
// carries the seeded contacts' names (the local stack has no portal database).
function payerName(contactId) {
  return config.contactNames?.[contactId] ?? contactId;
}

function notice(text, kind) {
  const element = document.getElementById("notice");
  element.textContent = text;
  element.className = `notice ${kind}`;
  element.hidden = false;
}

main();
