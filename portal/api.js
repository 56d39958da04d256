// The billing API's client routes (README, "API"). Every call carries the signed-in contact's ID token;
// errors come back as {"error": "<message>"} with the status the README lists.
import {goToSignIn, idToken} from "./auth.js";

const config = window.PORTAL_CONFIG;

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(method, path) {
  const response = await send(method, path);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, body.error ?? body.message ?? `HTTP ${response.status}`);
  return body;
}

async function send(method, path) {
  const response = await fetch(config.apiUrl + path, {
    method,
    headers: {authorization: `Bearer ${idToken()}`, ...(method === "POST" ? {"content-type": "application/json"} : {})},
    body: method === "POST" ? "{}" : undefined,
  });
  if (response.status === 401) {  // expired or refused token: sign in again, then come back
    goToSignIn();
    throw new ApiError(401, "Your session has ended: sign in again.");
  }
  return response;
}

const segment = encodeURIComponent;

// GET /api/client/billing -> the company's invoices, earliest due first
export async function listInvoices() {
  return (await call("GET", "/api/client/billing")).invoices;
}

// POST /api/client/billing/{invoiceId}/checkout -> {clientSecret, sessionId} for embedded Checkout
export function createCheckout(invoiceId) {
  return call("POST", `/api/client/billing/${segment(invoiceId)}/checkout`);
}

// GET /api/client/billing/{invoiceId}/verify/{sessionId} -> {success, status, contactId, amount}
export function verifyPayment(invoiceId, sessionId) {
  return call("GET", `/api/client/billing/${segment(invoiceId)}/verify/${segment(sessionId)}`);
}

// GET /api/client/billing/{invoiceId}/pdf -> the invoice as a PDF, saved by the browser as <invoiceNumber>.pdf
export async function downloadInvoicePdf(invoiceId, fileName) {
  const response = await send("GET", `/api/client/billing/${segment(invoiceId)}/pdf`);
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new ApiError(response.status, body.error ?? `HTTP ${response.status}`);
  }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = fileName;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}
