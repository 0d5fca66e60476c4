// The baseline's activities: they do nothing, so what is measured is Temporal's own round trips.
export const baselineActivities = {
  async noop(): Promise<void> {},
};

export type BaselineActivities = typeof baselineActivities;
