// The console's dialogs: transferring a conversation, the canned replies supervisors manage, and the Modal
// frame the pages' own dialogs (an order's ship, refund, decline) open in.
import { html, useEffect, useRef, useState } from './vendor/htm-3.1.1/preact/standalone.module.js';
import { del, post, put } from './api.js';
import { STATUS } from './format.js';

export function Modal({ title, close, children }) {
  const panel = useRef(null);
  useEffect(() => {
    const onKey = (e) => e.key === 'Escape' && close();
    window.addEventListener('keydown', onKey);
    const first = panel.current && panel.current.querySelector('select, input, textarea, button');
    if (first) first.focus();
    return () => window.removeEventListener('keydown', onKey);
  }, []);
  return html`
    <div class="overlay" onMouseDown=${(e) => e.target === e.currentTarget && close()}>
      <div class="modal" role="dialog" aria-modal="true" aria-label=${title} ref=${panel}>
        <header><h3>${title}</h3><button class="link" onClick=${close} aria-label="关闭">×</button></header>
        ${children}
      </div>
    </div>`;
}

export function TransferDialog({ groups, agents, current, close, transfer }) {
  const [to, setTo] = useState('agent');
  const candidates = agents.filter((a) => !current.agent || a.username !== current.agent.username);
  const [agent, setAgent] = useState(candidates.length ? candidates[0].username : '');
  const [group, setGroup] = useState(groups.length ? groups[0].name : '');
  const submit = (e) => {
    e.preventDefault();
    transfer(to === 'agent' ? { agent } : { group });
  };
  return html`
    <${Modal} title="转接会话" close=${close}>
      <form class="stack" onSubmit=${submit}>
        <label class="radio"><input type="radio" name="to" checked=${to === 'agent'} onChange=${() => setTo('agent')} /> 转给客服</label>
        <select id="transfer-agent" disabled=${to !== 'agent'} value=${agent} onChange=${(e) => setAgent(e.currentTarget.value)}>
          ${candidates.map((a) => html`
            <option value=${a.username}>${a.display_name}（${STATUS[a.status] || a.status}，${a.active_chats}/${a.max_chats}，${a.groups.join('、')}）</option>`)}
        </select>
        <label class="radio"><input type="radio" name="to" checked=${to === 'group'} onChange=${() => setTo('group')} /> 转到分组队列</label>
        <select id="transfer-group" disabled=${to !== 'group'} value=${group} onChange=${(e) => setGroup(e.currentTarget.value)}>
          ${groups.map((g) => html`<option value=${g.name}>${g.name}（排队 ${g.queued}）</option>`)}
        </select>
        <div class="row-end">
          <button type="button" class="secondary" onClick=${close}>取消</button>
          <button id="transfer-submit" type="submit" class="primary" disabled=${to === 'agent' ? !agent : !group}>转接</button>
        </div>
      </form>
    <//>`;
}

export function CannedManager({ canned, reload, notify, close }) {
  const [editing, setEditing] = useState(null); // null: adding a new one
  const [shortcut, setShortcut] = useState('');
  const [text, setText] = useState('');
  const edit = (c) => { setEditing(c.id); setShortcut(c.shortcut); setText(c.text); };
  const reset = () => { setEditing(null); setShortcut(''); setText(''); };
  const save = async (e) => {
    e.preventDefault();
    const body = { shortcut: shortcut.trim().replace(/^\//, ''), text: text.trim() };
    if (!body.shortcut || !body.text) return;
    try {
      if (editing === null) await post('/canned-replies', body);
      else await put(`/canned-replies/${editing}`, body);
      reset();
      reload();
    } catch (error) {
      notify(`保存快捷回复失败：${error.message}`);
    }
  };
  const remove = async (c) => {
    try {
      await del(`/canned-replies/${c.id}`);
      if (editing === c.id) reset();
      reload();
    } catch (error) {
      notify(`删除快捷回复失败：${error.message}`);
    }
  };
  return html`
    <${Modal} title="快捷回复" close=${close}>
      <ul class="canned-list">
        ${canned.map((c) => html`
          <li><b>/${c.shortcut}</b><span class="text">${c.text}</span>
            <button class="link" onClick=${() => edit(c)}>编辑</button>
            <button class="link danger" onClick=${() => remove(c)}>删除</button></li>`)}
        ${canned.length === 0 && html`<li class="muted">还没有快捷回复</li>`}
      </ul>
      <form class="stack" onSubmit=${save}>
        <input id="canned-shortcut" placeholder="快捷词，如 发货" maxlength="20" value=${shortcut}
          onInput=${(e) => setShortcut(e.currentTarget.value)} />
        <textarea id="canned-text" rows="3" placeholder="回复内容" value=${text} onInput=${(e) => setText(e.currentTarget.value)}></textarea>
        <div class="row-end">
          ${editing !== null && html`<button type="button" class="secondary" onClick=${reset}>取消编辑</button>`}
          <button id="canned-save" type="submit" class="primary">${editing === null ? '添加' : '保存'}</button>
        </div>
      </form>
    <//>`;
}
