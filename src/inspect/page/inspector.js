// The raftchart inspector page: renders the updates the inspector sends on its WebSocket and
// sends the user's commands back. No framework, no inline code (the page runs under a strict CSP).

// Rendering competes with the cluster for the same cores, so an update costs as little drawing as
// it can: at most one render per animation frame (none while the tab is hidden), every write only
// when its value changed, log boxes keyed by what they show (term, committed) rather than their
// index so that a log sliding under load rewrites next to nothing, the statecharts drawn once and
// only their lit boxes toggled, and the message list a fixed set of rows reused.
const messagesShownMax = 30;
const freshMessagesPerUpdateMax = 10;
const pendingMessagesMax = 200;

const elements = {
  info: document.getElementById('cluster-info'),
  connection: document.getElementById('connection'),
  notice: document.getElementById('notice'),
  servers: document.getElementById('servers'),
  template: document.getElementById('server-template'),
  messageList: document.getElementById('message-list'),
  busSummary: document.getElementById('bus-summary'),
  proposeCount: document.getElementById('propose-count'),
  propose: document.getElementById('propose'),
  partition: document.getElementById('partition'),
  heal: document.getElementById('heal'),
  reliable: document.getElementById('reliable'),
  pause: document.getElementById('pause'),
  addLearner: document.getElementById('add-learner'),
};

/** What the page knows: the hello, the last update, its panels, the chart drawings once loaded, and its open socket. */
const view = { hello: null, update: null, panels: new Map(), drawings: null, socket: null, nextRequestId: 1, lastMessageSeq: 0, pending: [], frame: null };

function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

function setData(element, key, value) {
  if (element.dataset[key] !== value) element.dataset[key] = value;
}

/** Sends a command; false (and a notice) while the socket is not open. */
function send(request) {
  if (view.socket === null || view.socket.readyState !== WebSocket.OPEN) {
    showNotice('not connected to the inspector', true);
    return false;
  }
  view.socket.send(JSON.stringify({ id: view.nextRequestId++, ...request }));
  return true;
}

function showNotice(text, isError) {
  elements.notice.textContent = text;
  elements.notice.dataset.error = String(isError);
}

function connect() {
  const socket = new WebSocket(`ws://${location.host}/live`);
  view.socket = socket;
  setConnection('connecting');
  socket.addEventListener('open', () => setConnection('live'));
  socket.addEventListener('message', (event) => onMessage(JSON.parse(event.data)));
  socket.addEventListener('close', () => {
    view.socket = null;
    setConnection('disconnected');
    setTimeout(connect, 1000);
  });
}

function setConnection(state) {
  elements.connection.dataset.state = state;
  elements.connection.textContent = state;
}

function onMessage(message) {
  if (message.type === 'hello') onHello(message);
  else if (message.type === 'update') queueUpdate(message);
  else if (message.type === 'reply') showNotice(message.ok ? message.text : `${message.code}: ${message.message}`, !message.ok);
}

function onHello(hello) {
  view.hello = hello;
  elements.servers.replaceChildren();
  view.panels.clear();
  view.drawings = null;
  followServers(hello.nodeIds);
  loadCharts(hello.charts).catch((error) => showNotice(`the statecharts did not load: ${error.message}`, true));
}

/**
 * Keeps one panel per server of `ids`, in that order: servers join (addLearner) and leave
 * (removeServer) while the page is open, so every update says which there are now.
 */
function followServers(ids) {
  const current = new Set(ids);
  for (const [id, panel] of view.panels) {
    if (current.has(id)) continue;
    panel.root.remove();
    view.panels.delete(id);
  }
  for (const id of ids) {
    if (view.panels.has(id)) continue;
    const panel = createPanel(id);
    view.panels.set(id, panel);
    elements.servers.append(panel.root);
    if (view.drawings !== null) addDrawings(panel);
  }
  setText(elements.info, `${ids.length} server${ids.length === 1 ? '' : 's'} · seed ${view.hello.seed} · ${view.hello.dataDir}`);
}

/**
 * Gives a copy of a drawing ids of its own (`<prefix>-<id>`), and points its markers at them: every
 * panel holds a copy, and ids must be unique in the page.
 */
function ownIds(svg, prefix) {
  const renamed = new Map();
  for (const element of svg.querySelectorAll('[id]')) {
    renamed.set(element.id, `${prefix}-${element.id}`);
    element.id = `${prefix}-${element.id}`;
  }
  for (const attribute of ['marker-start', 'marker-end']) {
    for (const element of svg.querySelectorAll(`[${attribute}]`)) {
      const target = /^url\(#(.+)\)$/.exec(element.getAttribute(attribute))?.[1];
      if (target !== undefined && renamed.has(target)) element.setAttribute(attribute, `url(#${renamed.get(target)})`);
    }
  }
  return svg;
}

/** Fetches the chart drawings and puts a copy of each in every panel: raft-server first, then durable-log. */
async function loadCharts(urls) {
  const drawings = await Promise.all(
    urls.map(async (url) => {
      const response = await fetch(url);
      if (!response.ok) throw new Error(`${url}: ${response.status}`);
      return new DOMParser().parseFromString(await response.text(), 'image/svg+xml').documentElement;
    }),
  );
  view.drawings = drawings;
  for (const panel of view.panels.values()) addDrawings(panel);
}

/** Puts a copy of each loaded drawing in `panel`, lit as its server was last seen. */
function addDrawings(panel) {
  panel.drawings = view.drawings.map((svg) => panel.chart.appendChild(ownIds(document.importNode(svg, true), panel.id)));
  panel.stateBoxes = panel.drawings.map((drawing) => {
    const boxes = new Map();
    for (const box of drawing.querySelectorAll('[data-state-path]')) {
      const path = box.getAttribute('data-state-path');
      boxes.set(path, [...(boxes.get(path) ?? []), box]);
    }
    return boxes;
  });
  panel.litPaths = panel.drawings.map(() => new Set());
  lightStates(panel, view.update?.nodes.find((n) => n.id === panel.id)?.detail ?? null, true);
}

function createPanel(id) {
  const root = elements.template.content.firstElementChild.cloneNode(true);
  root.dataset.nodeId = id;
  const find = (selector) => root.querySelector(selector);
  find('.server-id').textContent = id;
  const panel = {
    id,
    root,
    chart: find('.chart'),
    drawings: [],
    /** Per drawing: its state boxes by `data-state-path`, and the paths lit now. */
    stateBoxes: [],
    litPaths: [],
    litKey: '',
    /** The log tail drawn last: the boxes' titles are made from it on hover. */
    tail: [],
    role: find('.role'),
    member: find('.member'),
    configuration: find('.configuration'),
    statePath: find('.state-path'),
    term: find('.term'),
    votedFor: find('.voted-for'),
    leader: find('.leader'),
    commit: find('.commit'),
    applied: find('.applied'),
    lastLog: find('.last-log'),
    snapshot: find('.snapshot'),
    timerText: find('.timer-text'),
    timerFill: find('.timer-fill'),
    log: find('.log'),
    progress: find('.progress'),
    progressBody: find('.progress tbody'),
    durableState: find('.durable-state'),
    durableRate: find('.durable-rate'),
    crash: find('[data-action="crash"]'),
    disconnect: find('[data-action="disconnect"]'),
    failDisk: find('[data-action="fail-disk"]'),
    promote: find('[data-action="promote"]'),
    remove: find('[data-action="remove"]'),
  };
  // Only a cluster started with diskFaults can break a disk.
  panel.failDisk.hidden = view.hello?.diskFaults !== true;
  panel.failDisk.addEventListener('click', () => send({ command: 'failDisk', node: id }));
  panel.log.addEventListener('pointerover', (event) => titleLogBox(panel, event.target));
  panel.crash.addEventListener('click', () => send({ command: root.dataset.alive === 'true' ? 'crash' : 'restart', node: id }));
  panel.disconnect.addEventListener('click', () => send({ command: root.dataset.connected === 'true' ? 'disconnect' : 'connect', node: id }));
  panel.promote.addEventListener('click', () => sendChange({ command: 'promote', node: id }, `promoting ${id}…`));
  panel.remove.addEventListener('click', () => sendChange({ command: 'remove', node: id }, `removing ${id}…`));
  return panel;
}

/**
 * Renders on the next frame: the latest update's state, and the messages of every update since.
 * A hidden tab gets no animation frames: it keeps the latest update only, and no messages.
 */
function queueUpdate(update) {
  if (!document.hidden) view.pending.push(...update.messages.recent);
  if (view.pending.length > pendingMessagesMax) view.pending.splice(0, view.pending.length - pendingMessagesMax);
  view.update = update;
  view.frame ??= requestAnimationFrame(() => {
    view.frame = null;
    const messages = view.pending.splice(0);
    followServers(view.update.nodes.map((node) => node.id));
    for (const node of view.update.nodes) {
      const panel = view.panels.get(node.id);
      if (panel !== undefined) renderServer(panel, node, view.update);
    }
    renderNetwork(view.update);
    renderMessages(messages);
  });
}

function termHue(term) {
  return (term * 67 + 200) % 360;
}

function renderServer(panel, node, update) {
  const { root } = panel;
  const role = node.state;
  setData(root, 'role', role);
  setData(root, 'alive', String(node.alive));
  setData(root, 'term', String(node.term));
  setData(root, 'commitIndex', String(node.commitIndex));
  setData(root, 'lastLogIndex', String(node.lastLogIndex));
  const reachable = update.network.reachable[node.id] ?? [];
  const connected = reachable.length > 0 || update.nodes.length === 1;
  setData(root, 'connected', String(connected));
  setText(panel.role, role);
  setText(panel.term, String(node.term));
  setText(panel.votedFor, node.votedFor ?? '–');
  setText(panel.leader, node.leaderId ?? '–');
  setText(panel.commit, String(node.commitIndex));
  setText(panel.applied, String(node.lastApplied));
  setText(panel.lastLog, `${node.lastLogIndex}·t${node.lastLogTerm}`);
  setData(root, 'snapshotIndex', String(node.snapshotIndex));
  setText(panel.snapshot, snapshotText(node));
  setText(panel.crash, node.alive ? 'crash' : 'restart');
  setText(panel.disconnect, connected ? 'disconnect' : 'connect');
  renderMembership(panel, node, update);
  const detail = node.detail;
  setText(panel.statePath, (detail === null ? [] : detail.statePaths).join(', '));
  renderTimer(panel, node);
  renderLog(panel, node);
  renderProgress(panel, detail);
  renderDurable(panel, node);
  lightStates(panel, detail);
}

/**
 * Whether the server votes, as the leader's configuration says (its own when no leader is known),
 * and its own view of the configuration, which lags the leader's until the config entry reaches it.
 */
function renderMembership(panel, node, update) {
  const config = update.nodes.find((n) => n.id === update.leader) ?? node;
  const member = config.learners.includes(node.id) ? 'learner' : config.voters.includes(node.id) ? 'voter' : 'none';
  setData(panel.root, 'member', member);
  setText(panel.member, member === 'none' ? 'not in the configuration' : member);
  if (panel.promote.hidden !== (member !== 'learner')) panel.promote.hidden = member !== 'learner';
  const learners = node.learners.length === 0 ? '' : ` · learners: ${node.learners.join(' ')}`;
  setText(panel.configuration, node.voters.length === 0 ? 'no configuration known yet' : `voters: ${node.voters.join(' ')}${learners}`);
}

/** Its newest snapshot and where its log starts now, or why it never compacts. */
function snapshotText(node) {
  if (node.snapshots === 'unsupported') return 'none: the state machine cannot snapshot';
  const taken = node.snapshotIndex === 0 ? 'none yet' : `through ${node.snapshotIndex}`;
  return `${taken} · log from ${node.firstLogIndex}`;
}

function renderTimer(panel, node) {
  const timeout = node.detail?.electionTimeoutMs ?? 0;
  let text = '';
  let fraction = 0;
  if (!node.alive) text = 'not running';
  else if (node.failed) text = 'stopped: its durable log gave up (restart it)';
  else if (node.role === 'leader') text = 'leader: heartbeats hold off elections';
  else if (node.msSinceAppend === null) text = `no AppendEntries seen yet · timeout ${timeout} ms`;
  else {
    fraction = Math.min(1, node.msSinceAppend / Math.max(1, timeout));
    text = `AppendEntries ${node.msSinceAppend} ms ago · timeout ${timeout} ms`;
  }
  setText(panel.timerText, text);
  const scale = (Math.round(fraction * 20) / 20).toFixed(2);
  if (panel.timerFill.style.getPropertyValue('--fraction') !== scale) panel.timerFill.style.setProperty('--fraction', scale);
  setData(panel.timerFill, 'late', String(fraction >= 1));
}

/**
 * The log tail as boxes, box i showing the i-th entry of the tail: its term, and whether it is
 * committed. Under load the tail slides by thousands of entries an update but its terms and
 * commit marks hardly change, so a box is written only when what it shows does; the index is in
 * the row's caption and in a box's title, made when the pointer comes over it.
 */
function renderLog(panel, node) {
  const tail = node.detail?.logTail ?? [];
  panel.tail = tail;
  const boxes = panel.log.children;
  while (boxes.length > tail.length) panel.log.lastElementChild.remove();
  while (boxes.length < tail.length) {
    const box = document.createElement('span');
    box.className = 'entry';
    panel.log.append(box);
  }
  tail.forEach((entry, i) => {
    const box = boxes[i];
    const term = String(entry.term);
    if (box.textContent !== term) {
      box.textContent = term;
      box.style.setProperty('--term-hue', String(termHue(entry.term)));
    }
    setData(box, 'committed', String(entry.index <= node.commitIndex));
  });
  setData(panel.log, 'first', tail.length === 0 ? 'empty log' : `from ${tail[0].index}`);
}

/** Titles the log box the pointer came over with the entry it shows now (a title is read only on hover). */
function titleLogBox(panel, box) {
  const i = Array.prototype.indexOf.call(panel.log.children, box);
  const entry = panel.tail[i];
  if (entry === undefined) return;
  box.title = `index ${entry.index}, term ${entry.term}, ${box.dataset.committed === 'true' ? 'committed' : 'not committed'}`;
}

function renderProgress(panel, detail) {
  const progress = detail?.progress ?? null;
  if (panel.progress.hidden !== (progress === null)) panel.progress.hidden = progress === null;
  if (progress === null) return;
  const entries = Object.entries(progress);
  const rows = panel.progressBody.rows;
  while (rows.length > entries.length) panel.progressBody.lastElementChild.remove();
  while (rows.length < entries.length) panel.progressBody.insertRow().append(...[0, 1, 2].map(() => document.createElement('td')));
  entries.forEach(([peer, p], i) => {
    [peer, p.nextIndex, p.matchIndex].forEach((value, j) => setText(rows[i].cells[j], String(value)));
  });
}

function renderDurable(panel, node) {
  const durable = node.detail?.durableLog;
  if (durable === undefined) {
    setText(panel.durableState, '–');
    setData(panel.durableState, 'state', 'none');
    setText(panel.durableRate, '');
    return;
  }
  const state = durable.statePaths[0] ?? '';
  setText(panel.durableState, state);
  setData(panel.durableState, 'state', state.split('.')[0]);
  setText(panel.durableRate, `${node.syncsPerSec} syncs/s · synced seq ${durable.syncedSeq}/${durable.requestedSeq} · ${durable.queued} queued`);
}

/** Lights every state box on the active paths (and their ancestors) in the chart drawings: raft-server first, then durable-log. */
function lightStates(panel, detail, force = false) {
  const pathsOf = [detail?.statePaths ?? [], detail?.durableLog.statePaths ?? []];
  const key = JSON.stringify(pathsOf);
  if (!force && panel.litKey === key) return;
  panel.litKey = key;
  panel.stateBoxes.forEach((boxes, i) => {
    const active = new Set();
    for (const path of pathsOf[i] ?? []) {
      const parts = path.split('.');
      for (let depth = 1; depth <= parts.length; depth++) active.add(parts.slice(0, depth).join('.'));
    }
    const lit = panel.litPaths[i];
    for (const path of lit) if (!active.has(path)) for (const box of boxes.get(path) ?? []) box.classList.remove('active');
    for (const path of active) if (!lit.has(path)) for (const box of boxes.get(path) ?? []) box.classList.add('active');
    panel.litPaths[i] = active;
  });
}

function renderNetwork(update) {
  const { network, pace } = update;
  if (elements.connection.dataset.state === 'live') {
    setText(elements.connection, `live · ${pace.updatesPerSec} update${pace.updatesPerSec === 1 ? '' : 's'}/s${pace.busy ? ' (cluster busy)' : ''}`);
  }
  setData(elements.reliable, 'reliable', String(network.reliable));
  setText(elements.reliable, network.reliable ? 'network: reliable' : 'network: UNRELIABLE');
  setData(elements.pause, 'paused', String(network.paused));
  setText(elements.pause, network.paused ? 'resume bus' : 'pause bus');
  const sampled = network.messagesPerSec > freshMessagesPerUpdateMax * 10 ? ' · a sample shown' : '';
  setText(elements.busSummary, `${network.messagesPerSec} msg/s · ${network.messages} routed · ${network.dropped} dropped${network.paused ? ' · PAUSED' : ''}${sampled}`);
}

/**
 * The newest messages first; when more came than the list takes, the lost ones and the latest
 * others. Rows are reused: the oldest ones move to the top with new text.
 */
function renderMessages(messages) {
  const fresh = messages.filter((m) => m.seq > view.lastMessageSeq);
  if (fresh.length === 0) return;
  view.lastMessageSeq = fresh[fresh.length - 1].seq;
  const lost = fresh.filter((m) => m.deliveries === 0).slice(-freshMessagesPerUpdateMax / 2);
  const others = fresh.filter((m) => m.deliveries !== 0).slice(-(freshMessagesPerUpdateMax - lost.length));
  const shown = [...lost, ...others].sort((a, b) => a.seq - b.seq);
  const list = elements.messageList;
  const reused = Math.max(0, Math.min(shown.length, list.children.length + shown.length - messagesShownMax));
  const items = shown.reverse().map((m, i) => {
    const item = i < reused ? list.lastElementChild : document.createElement('li');
    item.remove();
    setData(item, 'lost', String(m.deliveries === 0));
    setData(item, 'type', m.type);
    const fate = m.deliveries === 0 ? 'lost' : m.deliveries > 1 ? 'duplicated' : m.delayMs > 0 ? `+${m.delayMs} ms` : '';
    const entries = m.entries > 0 ? ` ${m.entries} entries` : '';
    setText(item, `${m.from} → ${m.to}  ${m.type.replace('rpc.', '')}${entries} ${fate}`);
    return item;
  });
  list.prepend(...items);
  while (list.children.length > messagesShownMax) list.lastElementChild.remove();
}

function currentLeader() {
  return view.update?.leader ?? undefined;
}

/** A membership change: its reply comes once the config entry commits, so say it is on its way. */
function sendChange(request, text) {
  if (send(request)) showNotice(text, false);
}

elements.addLearner.addEventListener('click', () => sendChange({ command: 'addLearner' }, 'adding a learner…'));
elements.propose.addEventListener('click', () => send({ command: 'propose', count: Number(elements.proposeCount.value) }));
elements.heal.addEventListener('click', () => send({ command: 'heal' }));
elements.reliable.addEventListener('click', () => send({ command: 'setReliable', reliable: elements.reliable.dataset.reliable !== 'true' }));
elements.pause.addEventListener('click', () => send({ command: elements.pause.dataset.paused === 'true' ? 'resume' : 'pause' }));
elements.partition.addEventListener('click', () => {
  const ids = view.update?.nodes.map((node) => node.id) ?? view.hello?.nodeIds ?? [];
  const leader = currentLeader();
  // The leader with a minority on one side: the majority elects a new leader in a higher term.
  const ordered = leader === undefined ? ids : [leader, ...ids.filter((id) => id !== leader)];
  const minority = Math.max(1, Math.floor((ids.length - 1) / 2));
  send({ command: 'partition', groups: [ordered.slice(0, minority), ordered.slice(minority)] });
});

connect();
