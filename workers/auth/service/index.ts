import type { RequestMeta } from '../../../shared/http/context';
import type {
  AdminUpdateUserInput,
  AdminUserListQuery,
  CreateAddressInput,
  CreateClientInput,
  UpdateAddressInput,
  UpdateMeInput,
} from '../auth.schemas';
import { publicJwks } from '../tokens/signing-keys';
import { createAddress, deleteAddress, listAddresses, updateAddress } from './addresses';
import { accountStatus, getUser, listUsers, updateUser } from './admin-users';
import { makeAuthenticator } from './authenticate';
import { clientToken, type TokenForm } from './client-token';
import { createClient, listClients, revokeClient } from './clients';
import type { AuthDeps } from './deps';
import { login } from './login';
import { logout } from './logout';
import { getMe, updateMe } from './me';
import { relayOutbox } from './outbox';
import { eraseMe, exportMe } from './privacy';
import { forgetStaleSuccessors, refresh } from './refresh';
import { register } from './register';

/** Identity's verbs, bound to their dependencies (one per request). */
export function makeAuthService(deps: AuthDeps) {
  return {
    authenticator: makeAuthenticator(deps),
    jwks: async () => publicJwks(await deps.signingKeys()),
    register: (input: Parameters<typeof register>[0], meta: RequestMeta) => register(input, meta, deps),
    login: (input: { email: string; password: string; cartId?: string | undefined }, meta: RequestMeta) => login(input, meta, deps),
    refresh: (token: string, meta: RequestMeta) => refresh(token, meta, deps),
    /** The cron: sealed refresh successors past the replay grace are forgotten. */
    forgetStaleRefreshSuccessors: () => forgetStaleSuccessors(deps),
    /** The cron: events in the Postgres outbox (user.erased) the queue has not taken are published again. */
    relayOutbox: () => relayOutbox(deps),
    logout: (input: { refreshToken?: string; allSessions?: boolean }, meta: RequestMeta) => logout(input, meta, deps),
    clientToken: (form: TokenForm, authorization: string | undefined, meta: RequestMeta) => clientToken(form, authorization, meta, deps),
    getMe: (meta: RequestMeta) => getMe(meta, deps),
    updateMe: (input: UpdateMeInput, meta: RequestMeta) => updateMe(input, meta, deps),
    exportMe: (meta: RequestMeta) => exportMe(meta, deps),
    eraseMe: (password: string, meta: RequestMeta) => eraseMe(password, meta, deps),
    listAddresses: (meta: RequestMeta) => listAddresses(meta, deps),
    createAddress: (input: CreateAddressInput, meta: RequestMeta) => createAddress(input, meta, deps),
    updateAddress: (id: string, input: UpdateAddressInput, meta: RequestMeta) => updateAddress(id, input, meta, deps),
    deleteAddress: (id: string, meta: RequestMeta) => deleteAddress(id, meta, deps),
    listUsers: (q: AdminUserListQuery) => listUsers(q, deps),
    getUser: (id: string) => getUser(id, deps),
    accountStatus: (id: string) => accountStatus(id, deps),
    updateUser: (id: string, input: AdminUpdateUserInput, meta: RequestMeta) => updateUser(id, input, meta, deps),
    createClient: (input: CreateClientInput, meta: RequestMeta) => createClient(input, meta, deps),
    listClients: () => listClients(deps),
    revokeClient: (id: string, meta: RequestMeta) => revokeClient(id, meta, deps),
  };
}

export type AuthService = ReturnType<typeof makeAuthService>;
export type { AuthDeps } from './deps';
export { OAuthError } from './client-token';
export { hasNoCredentials } from './authenticate';
