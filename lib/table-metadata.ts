/** The metadata key that tags each DynamoDB table of a stack with its role (read back from the template). */
export const TABLE_METADATA_KEY = 'guardian:table';

/** What a guardian table holds. */
export type TableRole = 'deployments' | 'control';
