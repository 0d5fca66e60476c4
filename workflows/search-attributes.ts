import { defineSearchAttributeKey } from '@temporalio/common';

/** Custom search attributes an operator filters issues by in the Temporal Web UI. */
export const IssueTypeKey = defineSearchAttributeKey('IssueType', 'KEYWORD');
export const IssueStateKey = defineSearchAttributeKey('IssueState', 'KEYWORD');
export const AssigneeIdKey = defineSearchAttributeKey('AssigneeId', 'KEYWORD');

export const customSearchAttributes = [IssueTypeKey, IssueStateKey, AssigneeIdKey];

/** Set by the server on every run a Schedule starts: the time the run was scheduled for. */
export const ScheduledStartTimeKey = defineSearchAttributeKey('TemporalScheduledStartTime', 'DATETIME');
