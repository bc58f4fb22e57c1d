import { z } from 'zod';

/** Money is always integer minor units plus an ISO 4217 currency code; never a float. */
export const CurrencySchema = z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 currency code');
export const MinorUnitsSchema = z.number().int().safe();

export interface Money {
  amount: number;
  currency: string;
}

export const money = (amount: number, currency: string): Money => {
  if (!Number.isSafeInteger(amount)) throw new RangeError(`money amount must be an integer, got ${amount}`);
  return { amount, currency };
};
