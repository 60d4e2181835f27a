/** `array[index]`, failing the test when it is missing (in place of a non-null assertion). */
export function at<T>(array: readonly T[], index: number): T {
  const value = array.at(index);
  if (value === undefined) throw new Error(`no element ${index} among ${array.length}`);
  return value;
}
