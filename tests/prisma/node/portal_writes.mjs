// The portal at work, through its own Prisma Client: a company, its proposal, a contact signed in with Firebase,
// and an invoice of the given amount. Prints their ids as JSON.
//   node portal_writes.mjs <firebaseUid> <amount> <currency>
import { PrismaClient } from "@prisma/client";
import { PrismaPg } from "@prisma/adapter-pg";

const [firebaseUid, amount, currency] = process.argv.slice(2);
const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: process.env.DATABASE_URL }) });
try {
  const company = await prisma.company.create({ data: { name: "Acme" } });
  const proposal = await prisma.proposal.create({ data: { companyId: company.id, createdAt: new Date() } });
  const contact = await prisma.contact.create({
    data: { firebaseUid, email: `${firebaseUid}@example.test`, contactCompanyId: company.id, createdAt: new Date() },
  });
  const invoice = await prisma.invoice.create({
    data: {
      proposalId: proposal.id, invoiceNumber: `INV-${firebaseUid}`, amount: Number(amount), currency,
      description: "Phase 1", dueDate: new Date("2026-02-01T00:00:00Z"),
    },
  });
  console.log(JSON.stringify({ companyId: company.id, contactId: contact.id, invoiceId: invoice.id }));
} finally {
  await prisma.$disconnect();
}
