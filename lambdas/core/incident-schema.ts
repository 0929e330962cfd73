/**
 * The incident model, validated at the edges (opening an incident, reading one back in tools).
 * Apart from incidents.ts so that bundles which only move an incident's status do not carry it.
 */
import * as z from 'zod';
import { PRIORITIES } from '../../lib/config/schema.ts';
import { storableText } from './text.ts';

/** `<environment>-<yyyymmddThhmmssZ>-<8 hex>`: sortable by opening time, a valid execution name. */
export const INCIDENT_ID_RE = /^([a-z0-9-]+)-(\d{8}T\d{6}Z)-([0-9a-f]{8})$/;

/** Where an incident is in its life; it only ever moves forward. */
export const INCIDENT_STATUSES = ['open', 'acknowledged', 'resolved'] as const;
/** Where an incident is in its life. */
export type IncidentStatus = (typeof INCIDENT_STATUSES)[number];

/** Free text stored on an incident: one line, controls escaped. */
const text = () => z.string().min(1).transform(storableText);

/** An incident: one alarm's trouble in one environment, and how far its escalation went. */
export const incidentSchema = z.object({
  /** `<environment>-<opened, UTC>-<8 hex>`; also the Escalation execution's name. */
  id: z.string().regex(INCIDENT_ID_RE, 'must be <environment>-<yyyymmddThhmmssZ>-<8 hex>'),
  environment: z.string().min(1),
  priority: z.enum(PRIORITIES),
  status: z.enum(INCIDENT_STATUSES),
  /** What the people paged read first, e.g. "HighErrorRate in production after release v1.2.3". */
  summary: text(),
  /** The alarm that opened it. */
  alarm: z.object({
    name: z.string().min(1),
    /** `critical`, `warning` (the alarm's `severity` tag). */
    severity: z.string().min(1).optional(),
    /** CloudWatch's state reason. */
    reason: text().optional(),
    arn: z.string().min(1).optional(),
  }),
  /** The release it concerns: image and version as recorded, and the record id of its deployment. */
  release: z
    .object({
      image: z.string().min(1).optional(),
      version: z.string().min(1).optional(),
      deploymentId: z.string().min(1).optional(),
      deploymentExecutionArn: z.string().min(1).optional(),
      /** The automatic rollback the alarm caused, if any. */
      rollbackId: z.string().min(1).optional(),
    })
    .optional(),
  openedAt: z.iso.datetime({ offset: true }),
  updatedAt: z.iso.datetime({ offset: true }),
  acknowledgedAt: z.iso.datetime({ offset: true }).optional(),
  acknowledgedBy: text().optional(),
  resolvedAt: z.iso.datetime({ offset: true }).optional(),
  resolvedBy: text().optional(),
  resolution: text().optional(),
  /** Index of the last level paged (0 = the first), when, and whom. */
  levelReached: z.number().int().min(0).optional(),
  levelReachedAt: z.iso.datetime({ offset: true }).optional(),
  levelContact: z.string().min(1).optional(),
  /** The Escalation execution working on it. */
  escalationExecutionArn: z.string().min(1).optional(),
  /** The token of the execution's current "Wait for acknowledgement" task (SendTaskSuccess ends the chain). */
  taskToken: z.string().min(1).optional(),
});
/** An incident as stored. */
export type Incident = z.infer<typeof incidentSchema>;
