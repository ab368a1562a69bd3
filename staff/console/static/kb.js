// 知识库 (admins): the FAQs of the bot's KB file, the editor with its 试一试 box, and the unanswered questions.
// Routes: #kb (list), #kb/new[/<prefilled question>], #kb/faq/<id>, #kb/gaps.
// An edit is saved on the file's version it was read at: a stale save is refused (409) rather than undoing
// another admin's; a save answers once the running bot reloaded the file (已生效), or the page polls on.
import { html, useCallback, useEffect, useMemo, useRef, useState } from './vendor/htm-3.1.1/preact/standalone.module.js';
import { ApiError, del, get, post, put, query } from './api.js';
import { useHashRoute, go } from './route.js';
import { when } from './format.js';

const STATUS_POLL_MS = 1000;
const STATUS_POLLS = 20;
const ANSWER_LIMIT = 2000;

export const OUTCOME = {
  answer: { label: '直接回答', hint: '机器人会发送这条问答的答案' },
  suggest: { label: '猜你想问', hint: '机器人拿不准，会发出候选问题菜单让客户点选' },
  fallback: { label: '没听懂', hint: '机器人会请客户换个说法，再不行就转人工' },
};

// The KB parser's refusals, in the console's words (the original message is shown beside it).
const PROBLEMS = [
  [/missing or empty 'answer'/, '请填写答案（或配置小程序卡片）'],
  [/'question' has no letters or digits/, '标准问题需要包含文字或数字'],
  [/missing or empty 'question'/, '请填写标准问题'],
  [/may not contain '\|'/, '问法里不能有竖线“|”'],
  [/'similar' must be a list of non-empty strings/, '相似问法不能为空'],
  [/must be snake_case/, 'ID 只能用小写字母、数字和下划线，并以字母开头'],
  [/in use already/, '这个 ID 已被其他问答使用，请换一个'],
  [/is a phrasing of .* already/, '这个问法已经在这条问答里了'],
  [/card: missing or empty/, '小程序卡片需要标题、页面路径和图片'],
  [/card: image .* cannot be used/, '卡片图片不可用（找不到或太大）'],
  [/longer than 2000 characters/, '答案最多 2000 字'],
];

export function problemText(message) {
  const found = PROBLEMS.find(([pattern]) => pattern.test(message));
  return found ? found[1] : message;
}

const failed = (error) => !(error instanceof ApiError && error.status === 401);

export function KbView({ me, notify }) {
  const parts = useHashRoute('kb');
  const [page, id] = parts;
  return html`
    <main class="page kb" id="kb-view">
      <div class="page-head">
        <h2>知识库</h2>
        <nav class="kb-tabs">
          <a href="#kb" class=${page === 'gaps' ? '' : 'active'}>问答</a>
          <a href="#kb/gaps" id="kb-gaps-tab" class=${page === 'gaps' ? 'active' : ''}>未解决的问题</a>
        </nav>
      </div>
      ${!page && html`<${FaqList} notify=${notify} />`}
      ${page === 'faq' && html`<${FaqEditor} key=${'faq-' + id} id=${id} notify=${notify} />`}
      ${page === 'new' && html`<${FaqEditor} key=${'new-' + (id || '')} id=${null} prefill=${id || ''} notify=${notify} />`}
      ${page === 'gaps' && html`<${GapsReport} notify=${notify} />`}
    </main>`;
}

// ----- the file's status ------------------------------------------------------------------------------

export function KbStatus({ status }) {
  if (!status) return null;
  return html`
    <div class="kb-status" id="kb-status">
      <span>机器人正在使用 <strong>${status.faqs ?? '—'}</strong> 条问答</span>
      <span class="muted">文件 <code>${status.path}</code></span>
      ${status.loaded_at && html`<span class="muted">载入于 ${when(status.loaded_at)}</span>`}
      ${status.in_force === false && !status.last_error && html`<span class="warn-text">文件刚修改，正在载入…</span>`}
      ${status.last_error && html`
        <p class="field-error kb-file-error" role="alert">文件的最新修改没有生效（机器人仍在用上次成功载入的版本）：${status.last_error}</p>`}
    </div>`;
}

// ----- the list ---------------------------------------------------------------------------------------

function FaqList({ notify }) {
  const [q, setQ] = useState('');
  const [category, setCategory] = useState('');
  const [data, setData] = useState(null);
  const ticket = useRef(0);
  useEffect(() => {
    const mine = ++ticket.current;
    const timer = setTimeout(() => {
      get('/kb/faqs' + query({ q: q.trim(), category })).then((answer) => {
        if (mine === ticket.current) setData(answer);
      }, (error) => failed(error) && notify(`读取知识库失败：${error.message}`));
    }, q ? 200 : 0);
    return () => clearTimeout(timer);
  }, [q, category, notify]);
  return html`
    ${data && html`<${KbStatus} status=${data.status} />`}
    <div class="kb-toolbar">
      <input id="kb-search" type="search" placeholder="搜索问题、相似问法或答案" value=${q}
        onInput=${(e) => setQ(e.currentTarget.value)} />
      <select id="kb-category" value=${category} onChange=${(e) => setCategory(e.currentTarget.value)}>
        <option value="">全部分类</option>
        ${(data ? data.categories : []).map((c) => html`<option value=${c}>${c}</option>`)}
      </select>
      <span class="spacer"></span>
      <button id="kb-new" class="primary" onClick=${() => go('kb', 'new')}>新建问答</button>
    </div>
    <table class="stats kb-list">
      <thead><tr><th>问题</th><th>分类</th><th>相似问法</th><th>状态</th></tr></thead>
      <tbody>
        ${data && data.faqs.map((faq) => html`
          <tr data-faq=${faq.id} class=${'clickable' + (faq.enabled ? '' : ' disabled')} onClick=${() => go('kb', 'faq', faq.id)}>
            <td><a href=${'#kb/faq/' + encodeURIComponent(faq.id)} class="kb-question">${faq.question}</a>
              <div class="muted kb-excerpt">${faq.answer || (faq.has_card ? '（小程序卡片）' : '')}</div></td>
            <td>${faq.category || html`<span class="muted">未分类</span>`}</td>
            <td class="num">${faq.phrasings}
              ${faq.bank_topics.length > 0 && html`<div class="muted kb-bank" title="机器人从内置题库借用这些主题的常见问法">题库：${faq.bank_topics.join('、')}</div>`}
              ${faq.own_words_only && html`<div class="kb-hint" title="问法少，内置题库也认不出它的主题：客户换个说法就可能答不上">建议多加几种问法</div>`}</td>
            <td>${!faq.enabled && html`<span class="badge state-cancelled">已停用</span>`}
              ${faq.popular && html`<span class="badge state-scheduled">热门</span>`}
              ${faq.has_card && html`<span class="badge">卡片</span>`}</td>
          </tr>`)}
        ${data && data.faqs.length === 0 && html`
          <tr><td colspan="4" class="muted">${q || category ? '没有符合条件的问答。' : '知识库还是空的。点击“新建问答”添加第一条。'}</td></tr>`}
        ${!data && html`<tr><td colspan="4" class="muted">载入中…</td></tr>`}
      </tbody>
    </table>
    ${data && html`<p class="muted">共 ${data.total} 条</p>`}`;
}

// ----- the editor -------------------------------------------------------------------------------------

const BLANK = { id: '', question: '', similar: [], answer: '', category: '', enabled: true, popular: false, card: null };
const BLANK_CARD = { title: '', pagepath: '', image: '', appid: '' };

function bodyOf(form) {
  const body = {
    question: form.question.trim(),
    similar: form.similar.map((s) => s.trim()).filter(Boolean),
    answer: form.answer.trim(),
    category: form.category.trim(),
    enabled: form.enabled,
    popular: form.popular,
  };
  const card = form.card && Object.fromEntries(Object.entries(form.card).map(([k, v]) => [k, (v || '').trim()]));
  if (card && (card.title || card.pagepath || card.image)) body.card = card;
  return body;
}

function FaqEditor({ id, prefill, notify }) {
  const [form, setForm] = useState(id ? null : { ...BLANK, question: prefill || '' });
  const [version, setVersion] = useState(null);
  const [categories, setCategories] = useState([]);
  const [saved, setSaved] = useState(null); // the body last saved (or loaded), to tell unsaved changes
  const [state, setState] = useState(null); // {kind: saving|done|pending|error|stale|invalid, text}
  const [errors, setErrors] = useState({});
  const [newPhrasing, setNewPhrasing] = useState('');
  const [confirmDelete, setConfirmDelete] = useState(false);

  const load = useCallback(async () => {
    try {
      const list = await get('/kb/faqs' + query({ limit: 1 }));
      setCategories(list.categories);
      if (!id) { setVersion(list.version); return; }
      const page = await get(`/kb/faqs/${encodeURIComponent(id)}`);
      const loaded = { ...BLANK, ...page.faq, card: page.faq.card ? { ...BLANK_CARD, ...page.faq.card } : null };
      setForm(loaded);
      setSaved(JSON.stringify(bodyOf(loaded)));
      setVersion(page.version);
    } catch (error) {
      if (!failed(error)) return;
      if (error.status === 404) setState({ kind: 'error', text: `没有 ID 为 ${id} 的问答（可能已被删除）。` });
      else notify(`读取问答失败：${error.message}`);
    }
  }, [id, notify]);
  useEffect(() => { load(); }, [load]);

  if (!form) {
    return html`<p class="muted">${state ? state.text : '载入中…'}</p><a href="#kb" class="back-link">返回列表</a>`;
  }
  const body = bodyOf(form);
  const dirty = JSON.stringify(body) !== saved || !id;
  const set = (name, value) => { setForm((f) => ({ ...f, [name]: value })); setState(null); };
  const setPhrasing = (index, value) => set('similar', form.similar.map((s, i) => (i === index ? value : s)));
  const removePhrasing = (index) => set('similar', form.similar.filter((_, i) => i !== index));
  const addPhrasing = () => {
    const text = newPhrasing.trim();
    if (!text) return;
    if (![form.question, ...form.similar].some((s) => s.trim() === text)) set('similar', [...form.similar, text]);
    setNewPhrasing('');
  };

  const save = async (onVersion = version) => {
    setState({ kind: 'saving', text: '保存中…' });
    setErrors({});
    try {
      const answer = id
        ? await put(`/kb/faqs/${encodeURIComponent(id)}`, { ...body, version: onVersion })
        : await post('/kb/faqs', { ...body, id: form.id.trim(), version: onVersion });
      setVersion(answer.version);
      setSaved(JSON.stringify(body));
      afterSave(answer, setState);
      if (!id) go('kb', 'faq', answer.faq.id);
    } catch (error) {
      if (!failed(error)) return;
      if (error.code === 'KB_CHANGED') {
        setState({ kind: 'stale', text: '没有保存：知识库文件在你打开之后被修改过（可能是其他管理员保存了修改）。', version: error.detail.version });
      } else if (error.status === 422) {
        const field = (error.detail.field || '').split('.')[0] || 'form';
        setErrors({ [field]: problemText(error.message) });
        setState({ kind: 'invalid', text: `没有保存：${problemText(error.message)}`, detail: error.message });
      } else {
        setState({ kind: 'error', text: `没有保存：${error.message}` });
      }
    }
  };

  const remove = async () => {
    try {
      await del(`/kb/faqs/${encodeURIComponent(id)}` + query({ version }));
      notify('问答已删除', 'ok');
      go('kb');
    } catch (error) {
      setConfirmDelete(false);
      if (!failed(error)) return;
      setState(error.code === 'KB_CHANGED'
        ? { kind: 'stale', text: '没有删除：知识库文件在你打开之后被修改过。', version: error.detail.version }
        : { kind: 'error', text: `没有删除：${error.message}` });
    }
  };

  const answerLength = form.answer.trim().length;
  return html`
    <div class="page-head kb-editor-head">
      <a href="#kb" class="back-link">← 返回列表</a>
      <h3>${id ? form.question || id : '新建问答'}</h3>
      ${id && html`<code class="muted">${id}</code>`}
    </div>
    <div class="kb-editor">
      <form class="form-card kb-form" id="kb-editor" onSubmit=${(e) => { e.preventDefault(); save(); }}>
        ${!id && html`
          <label for="faq-id">问答 ID <span class="muted">小写字母、数字和下划线，如 store_parking；保存后不能修改</span></label>
          <input id="faq-id" class=${'mono' + (errors.id ? ' invalid' : '')} value=${form.id} maxlength="64"
            autocomplete="off" spellcheck="false" onInput=${(e) => set('id', e.currentTarget.value)} />
          ${errors.id && html`<p class="field-error">${errors.id}</p>`}`}

        <label for="faq-question">标准问题</label>
        <input id="faq-question" class=${errors.question ? 'invalid' : ''} value=${form.question} maxlength="500"
          onInput=${(e) => set('question', e.currentTarget.value)} placeholder="客户最常见的问法，如：门店在哪里？" />
        ${errors.question && html`<p class="field-error">${errors.question}</p>`}

        <label>相似问法 <span class="muted">${form.similar.length} 条 · 客户可能的其他说法，越多越容易被认出</span></label>
        <ul class="phrasings" id="faq-phrasings">
          ${form.similar.map((text, index) => html`
            <li class="phrasing">
              <input value=${text} maxlength="500" aria-label=${`相似问法 ${index + 1}`}
                onInput=${(e) => setPhrasing(index, e.currentTarget.value)} />
              <button type="button" class="link danger" aria-label="删除这个问法" onClick=${() => removePhrasing(index)}>×</button>
            </li>`)}
        </ul>
        <div class="inline-form">
          <input id="new-phrasing" value=${newPhrasing} maxlength="500" placeholder="输入一个新问法，回车添加"
            onInput=${(e) => setNewPhrasing(e.currentTarget.value)}
            onKeyDown=${(e) => { if (e.key === 'Enter') { e.preventDefault(); addPhrasing(); } }} />
          <button type="button" id="add-phrasing" class="secondary small" onClick=${addPhrasing}>添加问法</button>
        </div>
        ${errors.similar && html`<p class="field-error">${errors.similar}</p>`}

        <label for="faq-answer">答案</label>
        <textarea id="faq-answer" rows="5" class=${errors.answer ? 'invalid' : ''} value=${form.answer}
          onInput=${(e) => set('answer', e.currentTarget.value)}></textarea>
        <p class="hint">机器人原样发送给客户<span class=${'counter' + (answerLength > ANSWER_LIMIT ? ' bad' : '')}>${answerLength}/${ANSWER_LIMIT}</span></p>
        ${errors.answer && html`<p class="field-error">${errors.answer}</p>`}

        <div class="kb-row">
          <div>
            <label for="faq-category">分类</label>
            <input id="faq-category" list="kb-categories" value=${form.category} maxlength="40"
              onInput=${(e) => set('category', e.currentTarget.value)} />
            <datalist id="kb-categories">${categories.map((c) => html`<option value=${c}></option>`)}</datalist>
          </div>
          <label class="check"><input id="faq-enabled" type="checkbox" checked=${form.enabled}
            onChange=${(e) => set('enabled', e.currentTarget.checked)} /> 启用 <span class="muted">停用后保留但不再回答</span></label>
          <label class="check"><input id="faq-popular" type="checkbox" checked=${form.popular}
            onChange=${(e) => set('popular', e.currentTarget.checked)} /> 热门 <span class="muted">出现在菜单的快捷问题里</span></label>
        </div>

        <details class="kb-card" open=${Boolean(form.card)}>
          <summary>小程序卡片（可选）</summary>
          ${['title', 'pagepath', 'image', 'appid'].map((key) => html`
            <label for=${'card-' + key}>${{ title: '卡片标题', pagepath: '小程序页面路径', image: '卡片图片（URL 或 /images/ 路径）', appid: '小程序 AppID（留空为本店小程序）' }[key]}</label>
            <input id=${'card-' + key} class="mono" value=${(form.card || BLANK_CARD)[key] || ''}
              onInput=${(e) => set('card', { ...(form.card || BLANK_CARD), [key]: e.currentTarget.value })} />`)}
          ${errors.card && html`<p class="field-error">${errors.card}</p>`}
        </details>

        <${SaveState} state=${state} onReload=${() => { setState(null); load(); }} onOverwrite=${(v) => save(v)} />
        <div class="row-end">
          ${id && !confirmDelete && html`<button type="button" id="faq-delete" class="link danger" onClick=${() => setConfirmDelete(true)}>删除</button>`}
          ${confirmDelete && html`
            <span class="confirm">确定从知识库删除这条问答？只想暂时不用可以取消勾选“启用”。</span>
            <button type="button" class="secondary small" onClick=${() => setConfirmDelete(false)}>取消</button>
            <button type="button" id="faq-delete-confirm" class="danger-fill small" onClick=${remove}>删除</button>`}
          <span class="spacer"></span>
          ${dirty && id && html`<span class="muted">有未保存的修改</span>`}
          <button type="submit" id="faq-save" class="primary" disabled=${(state && state.kind === 'saving') || !dirty}>保存</button>
        </div>
      </form>
      <${TryBox} id=${id} form=${form} body=${body} dirty=${dirty} />
    </div>`;
}

// After a save: 已生效 at once, or poll the KB's status until the running bot has the file (or refused it).
function afterSave(answer, setState) {
  if (answer.reloaded) { setState({ kind: 'done', text: '已保存，已生效：机器人现在按新内容回答。' }); return; }
  if (answer.reload_error) { setState({ kind: 'error', text: `已保存到文件，但机器人没有载入：${answer.reload_error}` }); return; }
  if (answer.reloaded === null) { setState({ kind: 'done', text: '已保存到文件。' }); return; }
  setState({ kind: 'pending', text: '已保存，机器人正在载入…' });
  let polls = 0;
  const poll = () => get('/kb/status').then((status) => {
    if (status.in_force) setState({ kind: 'done', text: '已保存，已生效：机器人现在按新内容回答。' });
    else if (status.last_error) setState({ kind: 'error', text: `已保存到文件，但机器人没有载入：${status.last_error}` });
    else if (++polls < STATUS_POLLS) setTimeout(poll, STATUS_POLL_MS);
    else setState({ kind: 'error', text: '已保存到文件，机器人还没有载入，请稍后刷新查看。' });
  }, () => {});
  setTimeout(poll, STATUS_POLL_MS);
}

function SaveState({ state, onReload, onOverwrite }) {
  if (!state) return null;
  return html`
    <div class=${'save-state ' + state.kind} id="save-status" role=${state.kind === 'saving' ? 'status' : 'alert'}>
      <span>${state.text}</span>
      ${state.detail && html`<div class="muted">${state.detail}</div>`}
      ${state.kind === 'stale' && html`
        <div class="row-end">
          <button type="button" class="secondary small" id="kb-reload" onClick=${onReload}>放弃我的修改，载入最新内容</button>
          <button type="button" class="primary small" id="kb-overwrite" onClick=${() => onOverwrite(state.version)}>仍然保存我的修改</button>
        </div>
        <p class="muted">“仍然保存”只覆盖这一条问答，其他问答的修改都会保留。</p>`}
    </div>`;
}

// ----- 试一试 ------------------------------------------------------------------------------------------

function TryBox({ id, form, body, dirty }) {
  const [text, setText] = useState('');
  const [withEdit, setWithEdit] = useState(true);
  const [result, setResult] = useState(null);
  const [busy, setBusy] = useState(false);
  const run = async (e) => {
    e.preventDefault();
    if (!text.trim()) return;
    setBusy(true);
    const editing = dirty && withEdit ? { faq: { ...body, id: id || (form.id.trim() || 'new_faq') } } : {};
    try {
      setResult({ text: text.trim(), ...(await post('/kb/try', { text: text.trim(), ...editing })) });
    } catch (error) {
      if (failed(error)) setResult({ error: error.status === 422 ? problemText(error.message) : error.message });
    } finally {
      setBusy(false);
    }
  };
  return html`
    <aside class="form-card try-box" id="try-box">
      <h3>试一试</h3>
      <p class="hint">输入一句客户可能说的话，看机器人会怎么回。</p>
      <form class="stack" onSubmit=${run}>
        <input id="try-text" value=${text} maxlength="500" placeholder="如：你们实体店在哪" onInput=${(e) => setText(e.currentTarget.value)} />
        ${dirty && html`<label class="check"><input id="try-with-edit" type="checkbox" checked=${withEdit}
          onChange=${(e) => setWithEdit(e.currentTarget.checked)} /> 使用未保存的修改</label>`}
        <button type="submit" id="try-run" class="primary" disabled=${busy || !text.trim()}>${busy ? '匹配中…' : '试一试'}</button>
      </form>
      ${result && html`<${TryResult} result=${result} current=${id} />`}
    </aside>`;
}

function TryResult({ result, current }) {
  if (result.error) return html`<p class="field-error" id="try-result">${result.error}</p>`;
  const outcome = OUTCOME[result.outcome];
  const top = Math.max(1, ...result.candidates.map((c) => c.score));
  return html`
    <div class="try-result" id="try-result" data-outcome=${result.outcome}>
      <p><span class=${'outcome outcome-' + result.outcome}>${outcome.label}</span>
        ${result.edited && html`<span class="muted">（含未保存的修改）</span>`}</p>
      <p class="hint">${outcome.hint}</p>
      ${result.answer && html`
        <div class="bubble try-answer">${result.answer.answer || `（小程序卡片：${result.answer.card ? result.answer.card.title : ''}）`}</div>
        <p class="muted">来自问答：${result.answer.question}${result.answer.id === current ? '（就是这一条）' : ''}</p>`}
      ${result.candidates.length > 0 && html`
        <table class="candidates">
          <caption>${result.outcome === 'fallback' ? '最接近的问答（都没达到出菜单的分数）' : '候选问答'}</caption>
          <tbody>
            ${result.candidates.map((c) => html`
              <tr data-candidate=${c.id} class=${c.id === current || c.edited ? 'mine' : ''}>
                <td><a href=${'#kb/faq/' + encodeURIComponent(c.id)}>${c.question}</a></td>
                <td class="score-cell">
                  <span class="score-bar"><span class="score-fill" style=${{ width: `${(100 * c.score) / top}%` }}></span></span>
                  <span class="num">${c.score.toFixed(2)}</span></td>
              </tr>`)}
          </tbody>
        </table>
        <p class="muted">回答需要 ≥ ${result.answer_threshold}（且明显领先第二名），出菜单需要 ≥ ${result.suggest_threshold}</p>`}
    </div>`;
}

// ----- unanswered questions ---------------------------------------------------------------------------

function GapsReport({ notify }) {
  const [days, setDays] = useState(30);
  const [report, setReport] = useState(null);
  const [faqs, setFaqs] = useState([]);
  const [added, setAdded] = useState({}); // group index → text shown after adding
  const load = useCallback(() => get('/kb/gaps' + query({ days })).then(setReport, (error) => {
    if (failed(error)) notify(`读取未解决的问题失败：${error.message}`);
  }), [days, notify]);
  useEffect(() => { load(); }, [load]);
  useEffect(() => {
    get('/kb/faqs' + query({ limit: 1000 })).then((list) => setFaqs(list.faqs), () => {});
  }, []);
  const addAs = async (index, faq, text) => {
    try {
      const answer = await post(`/kb/faqs/${encodeURIComponent(faq.id)}/phrasings`, { text });
      setAdded((a) => ({ ...a, [index]: `已把“${text}”添加为「${faq.question}」的相似问法${answer.reloaded ? '，已生效' : ''}。` }));
      load();
    } catch (error) {
      if (failed(error)) notify(`添加失败：${error.status === 422 ? problemText(error.message) : error.message}`);
    }
  };
  return html`
    <div class="kb-toolbar">
      <p class="muted">机器人没能直接回答的问题，按相似程度归成一组，次数多的在前。把问法加到合适的问答里，下次就能答上了。</p>
      <span class="spacer"></span>
      <label for="gaps-days">时间范围</label>
      <select id="gaps-days" value=${days} onChange=${(e) => setDays(Number(e.currentTarget.value))}>
        ${[7, 30, 90].map((d) => html`<option value=${d}>最近 ${d} 天</option>`)}
      </select>
    </div>
    ${!report && html`<p class="muted">载入中…</p>`}
    ${report && html`<p id="gaps-summary">最近 ${report.days} 天共有 <strong>${report.questions}</strong> 个问题没能直接回答，分成 ${report.groups.length} 组。</p>`}
    ${report && report.groups.length === 0 && html`<p class="empty">太好了，这段时间客户的问题机器人都答上了。</p>`}
    <ol class="gaps" id="gaps">
      ${report && report.groups.map((group, index) => html`
        <${GapGroup} key=${group.examples[0]} group=${group} faqs=${faqs} note=${added[index]}
          add=${(faq, text) => addAs(index, faq, text)} />`)}
    </ol>`;
}

function GapGroup({ group, faqs, note, add }) {
  const [text, setText] = useState(group.examples[0]);
  const [other, setOther] = useState('');
  const byId = useMemo(() => Object.fromEntries(faqs.map((f) => [f.id, f])), [faqs]);
  return html`
    <li class="gap form-card" data-gap=${group.examples[0]}>
      <div class="gap-head">
        <span class="gap-count">${group.count} 次</span>
        <span class="gap-keywords">${group.keywords.map((k) => html`<span class="chip">${k}</span>`)}</span>
        ${group.answered_by && html`<span class="badge state-sending answered">现在已能回答：${group.answered_by.question}</span>`}
      </div>
      <div class="gap-examples">
        ${group.examples.map((example) => html`
          <label class="radio"><input type="radio" name=${'gap-' + group.examples[0]} checked=${text === example}
            onChange=${() => setText(example)} /> “${example}”</label>`)}
      </div>
      ${group.picked.length > 0 && html`
        <div class="gap-actions gap-picked">
          <span class="muted">顾客在“猜你想问”里选了，添加为它的相似问法：</span>
          ${group.picked.map((p) => html`
            <button type="button" class="primary small add-phrasing picked" data-faq=${p.id}
              title="把选中的问法添加为这条问答的相似问法" onClick=${() => add(p, text)}>${p.question}
              <span class="picked-times">${p.times} 次</span></button>`)}
        </div>`}
      <div class="gap-actions">
        <span class="muted">添加为相似问法：</span>
        ${group.candidates.filter((c) => !group.picked.some((p) => p.id === c.id)).map((c) => html`
          <button type="button" class="secondary small add-phrasing" data-faq=${c.id}
            onClick=${() => add(c, text)}>${c.question} <span class="muted">${c.score.toFixed(2)}</span></button>`)}
        <select class="other-faq" aria-label="添加到其他问答" value=${other} onChange=${(e) => setOther(e.currentTarget.value)}>
          <option value="">其他问答…</option>
          ${faqs.map((f) => html`<option value=${f.id}>${f.question}</option>`)}
        </select>
        ${other && html`<button type="button" class="secondary small" onClick=${() => add(byId[other], text)}>添加</button>`}
        <span class="spacer"></span>
        <button type="button" class="primary small new-faq" onClick=${() => go('kb', 'new', text)}>新建问答</button>
      </div>
      ${note && html`<p class="gap-note" role="status">${note}</p>`}
    </li>`;
}
