// GSAP, calm under prefers-reduced-motion: every animation goes through here and becomes an instant set.
import { gsap } from 'gsap';
import { reducedMotion } from '../dom.js';

export function from(target, vars) {
  if (reducedMotion()) return gsap.set(target, { clearProps: 'all' });
  return gsap.from(target, { duration: 0.35, ease: 'power2.out', clearProps: 'transform,opacity', ...vars });
}

export function to(target, vars) {
  if (reducedMotion()) return gsap.set(target, { ...vars, duration: 0 });
  return gsap.to(target, { duration: 0.3, ease: 'power2.out', ...vars });
}

/** Slides a panel in from the right (or out), resolving when done. */
export function slide(panel, open) {
  gsap.killTweensOf(panel);
  if (open) {
    panel.hidden = false;
    return from(panel, { xPercent: 100, opacity: 0, duration: 0.3 });
  }
  if (reducedMotion()) {
    panel.hidden = true;
    return null;
  }
  return gsap.to(panel, {
    xPercent: 100,
    opacity: 0,
    duration: 0.25,
    ease: 'power2.in',
    onComplete: () => {
      panel.hidden = true;
      gsap.set(panel, { clearProps: 'all' });
    },
  });
}

/** A short pulse on a control (play/pause). */
export function pulse(el) {
  if (reducedMotion()) return;
  gsap.fromTo(el, { scale: 0.85 }, { scale: 1, duration: 0.3, ease: 'back.out(3)', clearProps: 'transform' });
}

export { gsap };
