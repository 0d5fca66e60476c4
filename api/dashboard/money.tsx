// Money on a page: the formatted amount, its exact cents in `data-cents`, and what it is in `data-figure`.
import { formatCents } from './format.js';

export function Money(props: { cents: number; figure?: string; signed?: boolean }) {
  const tone = props.signed ? (props.cents < 0 ? 'negative' : props.cents > 0 ? 'positive' : '') : '';
  return (
    <span class={`money ${tone}`.trim()} data-figure={props.figure} data-cents={String(props.cents)}>
      {formatCents(props.cents)}
    </span>
  );
}
