// The Prisma CLI of the tests (tests/prisma/cli), offline: no native engine can be downloaded on these machines,
// so the CLI runs its Wasm schema engine, which reaches PostgreSQL through Prisma's pg driver adapter.
// The schema: the portal's (../portal_schema), or another folder given with --schema (the portal's schema with
// prisma/billing.prisma beside it). The CLI reads this one at start to see that its generator needs no native
// query engine (engineType "client"); without it, it would try to download one.
import { defineConfig } from "prisma/config";
import { PrismaPg } from "@prisma/adapter-pg";

// @prisma/adapter-pg 6.19.3 cannot pass two column types of PostgreSQL's catalog to the schema engine: `name`
// (table and column names; "Column type 'name' could not be deserialized", so `db push` and `db pull` fail) and
// `"char"` (a constraint's kind). Their values are plain text and a single character; the engine reads them as
// Text and Character when told so. Nothing else is changed: the queries, their values and every other column type
// are the adapter's own.
const CHAR_OID = 18;
const NAME_OID = 19;
const TEXT_OID = 25;
const CHARACTER = 6; // ColumnTypeEnum.Character of @prisma/driver-adapter-utils

type Field = { dataTypeID: number };
type Result = { fields: Field[]; rows: object } | object[];
type RawResult = { columnTypes: number[]; rows: object };
type Queryable = {
  catalogTypesRead?: boolean;
  performIO(this: unknown, query: unknown): Promise<Result>;
  queryRaw(this: unknown, query: unknown): Promise<RawResult>;
};

function readCatalogTypes(adapter: object): void {
  const queryable = Object.getPrototypeOf(Object.getPrototypeOf(adapter)) as Queryable; // PgQueryable.prototype
  if (queryable.catalogTypesRead) return;
  queryable.catalogTypesRead = true;
  const { performIO, queryRaw } = queryable;
  const characterColumns = new WeakMap<object, number[]>();
  queryable.performIO = async function (query) {
    const result = await performIO.call(this, query);
    if (Array.isArray(result)) return result; // a script of several statements (db execute): no columns read
    const characters: number[] = [];
    result.fields.forEach((field, i) => {
      if (field.dataTypeID === CHAR_OID) characters.push(i);
      if (field.dataTypeID === CHAR_OID || field.dataTypeID === NAME_OID) field.dataTypeID = TEXT_OID;
    });
    if (characters.length) characterColumns.set(result.rows, characters);
    return result;
  };
  queryable.queryRaw = async function (query) {
    const result = await queryRaw.call(this, query);
    for (const i of characterColumns.get(result.rows) ?? []) result.columnTypes[i] = CHARACTER;
    return result;
  };
}

export default defineConfig({
  engine: "js",
  schema: "../portal_schema",
  experimental: { adapter: true },
  async adapter() {
    // allowExitOnIdle: the CLI leaves its pool open when its command is done; idle connections must not keep
    // the process alive.
    const factory = new PrismaPg({ connectionString: process.env.DATABASE_URL, allowExitOnIdle: true });
    const connect = factory.connect.bind(factory);
    factory.connect = async () => {
      const adapter = await connect();
      readCatalogTypes(adapter);
      return adapter;
    };
    return factory;
  },
});
