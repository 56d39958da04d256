// The portal reading, through its own Prisma Client, what the billing backend wrote about an invoice: the invoice
// itself and the billing tables' rows (the models of prisma/billing.prisma). Prints them as JSON (dates as ISO
// 8601, BigInt as strings).
//   node portal_reads.mjs <invoiceId>
import { PrismaClient } from "@prisma/client";
import { PrismaPg } from "@prisma/adapter-pg";

const [invoiceId] = process.argv.slice(2);
const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: process.env.DATABASE_URL }) });
try {
  const invoice = await prisma.invoice.findUnique({ where: { id: invoiceId } });
  const read = {
    invoice,
    checkoutSessions: await prisma.billingCheckoutSession.findMany({ where: { invoiceId } }),
    stripeEvents: await prisma.billingStripeEvent.findMany({ where: { invoiceId }, orderBy: { receivedAt: "asc" } }),
    adjustments: await prisma.billingPaymentAdjustment.findMany({ where: { invoiceId } }),
    customers: await prisma.billingStripeCustomer.findMany(),
    migrationState: await prisma.billingAlembicVersion.findMany(),
  };
  console.log(JSON.stringify(read, (_key, value) => (typeof value === "bigint" ? value.toString() : value)));
} finally {
  await prisma.$disconnect();
}
