/** Calls with a bearer token (or none), for the authentication and ACL tests. */
import * as grpc from '@grpc/grpc-js';
import { ARBOR_PROTO, type GrpcError, type Msg, type Stub, type TestCluster } from './harness.js';

const pkg = grpc.loadPackageDefinition(ARBOR_PROTO) as unknown as {
  arbor: { v1: { Auth: grpc.ServiceClientConstructor } };
};

export const PERMS = { read: 1, write: 2, create: 4, delete: 8, admin: 16, all: 31 } as const;

const stubs: grpc.Client[] = [];

export function authStub(c: TestCluster, id: number, creds = grpc.credentials.createInsecure()): Stub {
  const s = new pkg.arbor.v1.Auth(c.member(id).clientAddr, creds) as unknown as Stub;
  stubs.push(s);
  return s;
}

export function closeAuthStubs(): void {
  for (const s of stubs.splice(0)) s.close();
}

export function bearer(token: string | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  if (token !== undefined) md.set('authorization', `Bearer ${token}`);
  return md;
}

/** A unary call with `authorization: Bearer <token>` when a token is given. */
export function callAs(
  stub: Stub,
  method: string,
  req: Msg,
  token?: string,
  timeoutMs = 10_000,
): Promise<Msg> {
  return new Promise((resolve, reject) => {
    (
      stub[method] as (
        r: Msg,
        md: grpc.Metadata,
        o: grpc.CallOptions,
        cb: (e: GrpcError | null, r: Msg) => void,
      ) => void
    ).call(stub, req, bearer(token), { deadline: Date.now() + timeoutMs, waitForReady: true }, (e, r) =>
      e ? reject(e) : resolve(r),
    );
  });
}

/** The gRPC status code a call ends with (0 for success). */
export async function codeOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 0;
  } catch (e) {
    return (e as GrpcError).code;
  }
}

export async function login(auth: Stub, user: string, password: string): Promise<string> {
  const r = await callAs(auth, 'Authenticate', { user, password });
  return r.token as string;
}

/** A watch stream opened with a token; collects responses until cancelled. */
export function watchAs(
  stub: Stub,
  req: Msg,
  token?: string,
): { responses: Msg[]; error: GrpcError | undefined; cancel(): void } {
  const call = (stub.Watch as (r: Msg, md: grpc.Metadata) => grpc.ClientReadableStream<Msg>).call(
    stub,
    req,
    bearer(token),
  );
  const out = {
    responses: [] as Msg[],
    error: undefined as GrpcError | undefined,
    cancel: () => call.cancel(),
  };
  call.on('data', (r: Msg) => out.responses.push(r));
  call.on('error', (e: GrpcError) => {
    out.error = e;
  });
  return out;
}
