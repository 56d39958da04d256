// Preloaded into the Prisma CLI by the tests (NODE_OPTIONS=--require): Prisma 6.19.3's Wasm schema engine arms a
// 60-second timer for each command and leaves it armed when the command is done, so the CLI idles a minute before
// it exits. Such timers no longer keep the process alive; work in progress still does (an open query holds its
// socket, which is not touched).
const setTimeoutOfNode = global.setTimeout;
global.setTimeout = function (callback, delay, ...args) {
  const timer = setTimeoutOfNode(callback, delay, ...args);
  if (delay >= 60_000 && typeof timer?.unref === "function") timer.unref();
  return timer;
};
