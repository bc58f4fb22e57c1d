import { fieldCipherCases } from './field-cipher.cases';

/**
 * The shared cases inside workerd (the `workers` project): WebCrypto there is workerd's own,
 * over BoringSSL, not Node's. What the cipher costs is measured by the benchmark
 * (`npm run bench -- --only=crypto,runtime.bare`; README.md), not by a test.
 */
fieldCipherCases();
