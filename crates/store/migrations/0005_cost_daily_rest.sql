-- The sums of the line items' money rests (see 0004): a day's exact cost is
-- billed_cost + billed_cost_rest, and so on. Projection rows written before this
-- migration summed rests of 0.
ALTER TABLE cost_daily
    ADD COLUMN billed_cost_rest Decimal(38, 28) DEFAULT 0,
    ADD COLUMN effective_cost_rest Decimal(38, 28) DEFAULT 0,
    ADD COLUMN list_cost_rest Decimal(38, 28) DEFAULT 0
