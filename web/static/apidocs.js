// The interactive API documentation: renders this workspace's OpenAPI document (embedded in the
// page as JSON) and sends "Try it" calls with a key pasted by the admin. Everything is built
// with DOM nodes and textContent: labels of custom fields are user input and never become HTML.
(function () {
  "use strict";

  const METHODS = ["get", "post", "put", "patch", "delete"];

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function resolve(doc, item, seen) {
    let current = item;
    const visited = seen || new Set();
    while (current && current.$ref) {
      if (visited.has(current.$ref)) return {};
      visited.add(current.$ref);
      const path = current.$ref.replace(/^#\//, "").split("/");
      current = path.reduce((node, part) => (node ? node[part.replace(/~1/g, "/").replace(/~0/g, "~")] : undefined), doc);
    }
    return current || {};
  }

  function refName(item) {
    return item && item.$ref ? item.$ref.split("/").pop() : null;
  }

  function typeOf(doc, schema) {
    const s = resolve(doc, schema);
    const name = refName(schema);
    if (s.type === "array") return `array of ${typeOf(doc, s.items || {})}`;
    let text = name || s.type || (s.properties ? "object" : "any");
    if (s.format) text += ` (${s.format})`;
    if (s.nullable) text += ", nullable";
    return text;
  }

  // A schema as a nested list of properties, to a limited depth (schemas can be recursive).
  function schemaTree(doc, schema, depth, custom) {
    const s = resolve(doc, schema);
    const target = s.type === "array" ? resolve(doc, s.items || {}) : s;
    const props = target.properties || {};
    const required = new Set(target.required || []);
    const list = el("ul");
    for (const [name, raw] of Object.entries(props)) {
      const prop = resolve(doc, raw);
      const item = el(
        "li",
        {},
        el("strong", { text: name }),
        " ",
        el("span", { className: "apidocs-type", text: typeOf(doc, raw) }),
        required.has(name) ? el("span", { className: "apidocs-req", text: " required" }) : null,
        prop.readOnly ? el("span", { className: "muted", text: " read-only" }) : null,
        custom ? el("span", { className: "apidocs-custom", text: "custom field" }) : null,
        prop.title ? ` ${prop.title}` : null,
        prop.description ? el("span", { className: "muted", text: ` — ${prop.description}` }) : null,
        prop.enum ? el("span", { className: "muted", text: ` one of: ${prop.enum.join(", ")}` }) : null,
      );
      const nested = prop.type === "array" ? resolve(doc, prop.items || {}) : prop;
      if (depth < 3 && nested.properties && Object.keys(nested.properties).length) {
        item.append(schemaTree(doc, raw, depth + 1, name === "custom"));
      }
      list.append(item);
    }
    if (!Object.keys(props).length) list.append(el("li", { className: "muted", text: typeOf(doc, schema) }));
    return el("div", { className: "apidocs-schema" }, list);
  }

  function example(doc, schema, depth) {
    const s = resolve(doc, schema);
    if (s.example !== undefined) return s.example;
    if (s.enum) return s.enum[0];
    if (s.type === "object" || s.properties) {
      const out = {};
      for (const name of s.required || []) {
        const prop = resolve(doc, (s.properties || {})[name] || {});
        if (!prop.readOnly && depth < 3) out[name] = example(doc, prop, depth + 1);
      }
      return out;
    }
    if (s.type === "array") return [];
    if (s.type === "integer" || s.type === "number") return s.minimum !== undefined ? s.minimum : 0;
    if (s.type === "boolean") return false;
    if (s.format === "uuid") return "00000000-0000-0000-0000-000000000000";
    return "";
  }

  function parameterTable(doc, parameters) {
    if (!parameters.length) return null;
    return el(
      "table",
      {},
      el("thead", {}, el("tr", {}, ["Parameter", "In", "Type", "Description"].map((h) => el("th", { text: h })))),
      el(
        "tbody",
        {},
        parameters.map((p) =>
          el(
            "tr",
            {},
            el("td", {}, el("code", { text: p.name }), p.required ? el("span", { className: "apidocs-req", text: " *" }) : null),
            el("td", { text: p.in }),
            el("td", { className: "apidocs-type", text: typeOf(doc, p.schema || {}) }),
            el("td", { text: p.description || "" }),
          ),
        ),
      ),
    );
  }

  function tryForm(doc, path, method, parameters, bodySchema) {
    const form = el("form", { className: "apidocs-try", novalidate: true });
    const inputs = [];
    for (const p of parameters) {
      if (p.in === "header" && p.name !== "Idempotency-Key") continue;
      if (p.style === "deepObject") {
        const input = el("input", { type: "text", placeholder: "filter[name][contains]=acme&filter[amount][gte]=100" });
        inputs.push({ p: { ...p, in: "raw-query" }, input });
        form.append(el("label", {}, `${p.name} (as query text)`, input));
        continue;
      }
      const input = el("input", { type: "text", name: p.name, placeholder: typeOf(doc, p.schema || {}) });
      inputs.push({ p, input });
      form.append(el("label", {}, `${p.name} (${p.in}${p.required ? ", required" : ""})`, input));
    }
    let body = null;
    if (bodySchema) {
      body = el("textarea", { rows: 8, spellcheck: "false" });
      body.value = JSON.stringify(example(doc, bodySchema, 0), null, 2);
      form.append(el("label", {}, "JSON body", body));
    }
    const result = el("pre", { className: "apidocs-result", hidden: true, "aria-live": "polite" });
    const button = el("button", { type: "submit", text: `Send ${method.toUpperCase()}` });
    form.append(el("p", {}, button), result);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const key = document.getElementById("apidocs-key").value.trim();
      result.hidden = false;
      if (!key) {
        result.textContent = "Paste an API key in the field at the top of the page first.";
        return;
      }
      let url = path;
      const query = new URLSearchParams();
      const headers = { Authorization: `Bearer ${key}`, Accept: "application/json" };
      let raw = "";
      for (const { p, input } of inputs) {
        const value = input.value.trim();
        if (!value) continue;
        if (p.in === "path") url = url.replace(`{${p.name}}`, encodeURIComponent(value));
        else if (p.in === "query") query.append(p.name, value);
        else if (p.in === "raw-query") raw = value.replace(/^[?&]+/, "");
        else if (p.in === "header") headers[p.name] = value;
      }
      const search = [query.toString(), raw].filter(Boolean).join("&");
      if (search) url += `?${search}`;
      const options = { method: method.toUpperCase(), headers, credentials: "omit" };
      if (body) {
        headers["Content-Type"] = "application/json";
        options.body = body.value;
      }
      button.disabled = true;
      result.textContent = `${options.method} ${url} …`;
      try {
        const response = await fetch(url, options);
        const text = await response.text();
        let shown = text;
        try {
          shown = JSON.stringify(JSON.parse(text), null, 2);
        } catch (_) {
          /* not JSON: show as is */
        }
        result.replaceChildren(
          el("span", { className: response.ok ? "apidocs-status-ok" : "apidocs-status-error", text: `${response.status} ${response.statusText}` }),
          `\n${options.method} ${url}\n`,
          ["ETag", "Location", "Idempotent-Replayed", "X-RateLimit-Remaining"]
            .filter((h) => response.headers.get(h))
            .map((h) => `${h}: ${response.headers.get(h)}\n`)
            .join(""),
          `\n${shown}`,
        );
      } catch (error) {
        result.textContent = `The request failed: ${error}`;
      } finally {
        button.disabled = false;
      }
    });
    return form;
  }

  function operationBlock(doc, path, method, operation, shared) {
    const id = `op-${method}-${path.replace(/[^a-zA-Z0-9]+/g, "-")}`;
    const parameters = [...shared, ...(operation.parameters || [])].map((p) => resolve(doc, p));
    const content = operation.requestBody ? resolve(doc, operation.requestBody).content || {} : {};
    const bodySchema = content["application/json"] ? content["application/json"].schema : null;
    const responses = Object.entries(operation.responses || {}).map(([status, raw]) => {
      const response = resolve(doc, raw);
      const json = (response.content || {})["application/json"];
      return el(
        "li",
        {},
        el("strong", { text: status }),
        ` ${response.description || ""}`,
        json && json.schema ? el("span", { className: "apidocs-type", text: ` ${typeOf(doc, json.schema)}` }) : null,
      );
    });
    const details = el(
      "details",
      { className: "apidocs-op", id, "data-method": method, "data-path": path },
      el(
        "summary",
        {},
        el("span", { className: `apidocs-method ${method}`, text: method }),
        el("span", { className: "apidocs-path", text: path }),
        el("span", { className: "apidocs-summary", text: operation.summary || "" }),
      ),
      el(
        "div",
        {},
        operation.description ? el("p", { text: operation.description }) : null,
        parameterTable(doc, parameters),
        bodySchema ? [el("h4", { text: `Body: ${typeOf(doc, bodySchema)}` }), schemaTree(doc, bodySchema, 0, false)] : null,
        el("h4", { text: "Responses" }),
        el("ul", {}, responses),
        el("h4", { text: "Try it" }),
        tryForm(doc, path, method, parameters, bodySchema),
      ),
    );
    return details;
  }

  function render() {
    const source = document.getElementById("openapi-document");
    const main = document.getElementById("apidocs-main");
    const nav = document.getElementById("apidocs-nav");
    if (!source || !main) return;
    const doc = JSON.parse(source.textContent);
    const byTag = new Map();
    for (const [path, item] of Object.entries(doc.paths || {})) {
      for (const method of METHODS) {
        const operation = item[method];
        if (!operation) continue;
        const tag = (operation.tags || ["other"])[0];
        if (!byTag.has(tag)) byTag.set(tag, []);
        byTag.get(tag).push(operationBlock(doc, path, method, operation, item.parameters || []));
      }
    }
    const descriptions = Object.fromEntries((doc.tags || []).map((t) => [t.name, t.description || ""]));
    main.replaceChildren();
    for (const [tag, blocks] of [...byTag.entries()].sort()) {
      const anchor = `tag-${tag.replace(/[^a-zA-Z0-9]+/g, "-")}`;
      main.append(
        el("section", {}, el("h2", { id: anchor, text: tag }), descriptions[tag] ? el("p", { className: "muted", text: descriptions[tag] }) : null, blocks),
      );
      nav.append(el("h3", {}, el("a", { href: `#${anchor}`, text: tag })));
      for (const block of blocks) {
        nav.append(
          el("a", { href: `#${block.id}` }, el("span", { className: `apidocs-method ${block.dataset.method}`, text: block.dataset.method }), " ", block.dataset.path.replace("/api/v1", "")),
        );
      }
    }
    const schemas = (doc.components || {}).schemas || {};
    main.append(el("h2", { id: "schemas", text: "Schemas" }));
    nav.append(el("h3", {}, el("a", { href: "#schemas", text: "Schemas" })));
    for (const name of Object.keys(schemas).sort()) {
      main.append(
        el(
          "details",
          { className: "apidocs-op", id: `schema-${name}` },
          el("summary", {}, el("span", { className: "apidocs-path", text: name })),
          el("div", {}, schemaTree(doc, { $ref: `#/components/schemas/${name}` }, 0, false)),
        ),
      );
    }
    // Open the operation a link points at.
    const open = () => {
      const target = location.hash && document.getElementById(location.hash.slice(1));
      if (target && target.tagName === "DETAILS") target.open = true;
    };
    window.addEventListener("hashchange", open);
    open();
  }

  document.addEventListener("DOMContentLoaded", render);
})();
