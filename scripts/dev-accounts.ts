/**
 * The development accounts' fixed ids and default secrets (no imports: the seeder, the docs'
 * examples and the tests inside workerd all read them from here).
 */
export const DEFAULT_DEV_PASSWORD = 'agora-dev-password';
export const DEFAULT_DEV_CLIENT_SECRET = 'agora-dev-pos-client-secret';

/** Fixed ids, so docs, scripts and tests can name them. */
export const DEV_IDS = {
  admin: 'usr_0000000000devadmin00000000',
  staff: 'usr_0000000000devstaff00000000',
  pos: 'usr_0000000000devpos0000000000',
  shopper: 'usr_0000000000devshopper000000',
  store: 'sto_0000000000amsflagship00000',
  store2: 'sto_0000000000blrmgroad0000000',
  posClient: 'cli_0000000000devposclient0000',
} as const;
