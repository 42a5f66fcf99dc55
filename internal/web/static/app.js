// fibremon public coverage page: the map of the comune drawn as SVG from
// GET api/v1/coverage.geojson, and the "is my address covered?" answer of
// GET api/v1/coverage. No libraries, no network but the page's own origin
// (and the tile server when one is configured). Served by internal/web.
(function () {
  'use strict';

  // ---------------------------------------------------------------------
  // Every string the page shows, in Italian (default) and English.

  var MONTHS = {
    it: ['gennaio', 'febbraio', 'marzo', 'aprile', 'maggio', 'giugno', 'luglio', 'agosto', 'settembre', 'ottobre', 'novembre', 'dicembre'],
    en: ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December']
  };

  var I18N = {
    it: {
      title: 'fibremon — Ripalta Cremasca: copertura in fibra',
      subtitle: 'Il tuo indirizzo è coperto dalla fibra? Con quale tecnologia, da quando, e come vanno le linee vicine.',
      skipToSearch: "Vai alla ricerca dell'indirizzo",
      langToggle: 'English',
      langToggleLang: 'en',
      langToggleLabel: 'Switch to English',
      searchTitle: 'Verifica un indirizzo',
      searchLabel: 'Il tuo indirizzo',
      searchPlaceholder: 'Il tuo indirizzo (es. Via Roma 5)',
      searchButton: 'Verifica',
      searchHint: 'Oppure clicca un punto sulla mappa.',
      searchEmpty: 'Scrivi un indirizzo, per esempio «Via Roma 5».',
      answerTitle: 'Risposta',
      answerEmpty: 'Scrivi un indirizzo o clicca sulla mappa per sapere se è coperto.',
      loading: 'Ricerca in corso…',
      mapTitle: 'Mappa della copertura',
      mapLabel: 'Mappa di Ripalta Cremasca. Trascina o usa le frecce per spostarla, rotella o +/− per ingrandire; clic, Invio o spazio su un punto per verificarne la copertura.',
      mapHint: 'Trascina per spostare la mappa, rotella o pulsanti +/− per ingrandire; clicca un punto per verificarne la copertura. Con la tastiera: Tab sui punti, Invio per verificarli, frecce e +/− per muovere la mappa.',
      mapLoading: 'Caricamento della mappa…',
      mapFailed: 'Mappa non disponibile: {0}',
      mapUpdated: 'Siti aggiornati alle {0}',
      layersTitle: 'Livelli',
      'layer.tiles': 'Sfondo cartografico',
      'layer.comune': 'Confine comunale',
      'layer.hamlets': 'Frazioni',
      'layer.white-areas': 'Aree bianche',
      'layer.addresses': 'Indirizzi (civici)',
      'layer.sites': 'Linee monitorate',
      layerUnavailable: '(non disponibile)',
      layerEmpty: '(nessun dato)',
      zoomIn: 'Ingrandisci',
      zoomOut: 'Riduci',
      zoomReset: 'Vista intera del comune',
      legendTitle: 'Legenda',
      legendAddresses: 'Indirizzi, per classe di copertura',
      legendSites: 'Linee monitorate, per stato',
      legendOther: 'Altro',
      legendWhite: 'Area bianca (a fallimento di mercato)',
      legendComune: 'Confine comunale',
      legendHamlet: 'Centro di frazione',
      legendEstimated: 'Posizione stimata: il cerchio tratteggiato è l’incertezza',
      legendHighlight: 'Punto della risposta',
      syntheticBadge: 'dati sintetici',
      syntheticBadgeTitle: 'Alcuni elementi della mappa (il registro dei civici, alcuni siti) sono inventati a scopo dimostrativo.',
      footerNote: 'Dati dei siti e delle misure: fibremon. Alcuni dati (il registro dei civici, alcuni siti) sono sintetici, a scopo dimostrativo.',

      'class.vhcn': 'VHCN — rete ad altissima capacità',
      'class.nga': 'NGA ≥30 Mbit/s',
      'class.adequate': 'adeguata ≥20 Mbit/s',
      'class.below': 'sotto soglia (<20 Mbit/s)',
      'state.up': 'funzionante',
      'state.down': 'guasta',
      'state.silent': 'silenziosa (nessun dato recente)',
      'state.unknown': 'stato sconosciuto',
      'rollout.planned': 'pianificato',
      'rollout.design': 'in progettazione',
      'rollout.works': 'lavori in corso',
      'rollout.works_completed': 'lavori completati',
      'rollout.acceptance': 'in collaudo',
      'rollout.ready_for_sale': 'attivabile',
      'rollout.active': 'attivo',
      'rollout.none': 'nessun intervento',
      'area.white': 'bianca',
      'area.grey': 'grigia',
      'area.gray': 'grigia',
      'area.black': 'nera',
      'coord.sourced': 'da fonte',
      'coord.approximate': 'approssimata',
      'coord.estimated': 'stimata',
      yes: 'sì',
      no: 'no',

      // the answer
      techCovered: {
        FTTH: 'in fibra FTTH', FTTB: 'in fibra FTTB', FTTP: 'in fibra FTTP',
        FWA: 'in FWA (radio fissa)', FTTC: "in FTTC (fibra fino all'armadio, rame fino a casa)", VDSL: 'in VDSL (rame)'
      },
      verdictCovered: function (tech, speeds, since) { return 'Coperto ' + tech + speeds + since; },
      verdictCopperOnly: function (tech, speeds) { return 'Non coperto in fibra: solo ' + tech + speeds; },
      verdictNone: 'Non coperto: nessuna rete fissa veloce registrata',
      verdictNotYet: function (tech, state, since) { return 'Non ancora coperto: ' + tech + ', ' + state + since; },
      verdictOutside: "Fuori dall'area monitorata",
      verdictAmbiguous: function (q) { return q ? 'Più indirizzi corrispondono a «' + q + '»: scegli quello giusto' : 'Più indirizzi corrispondono: scegli quello giusto'; },
      speedsUpTo: function (d, u) { return ' fino a ' + (u ? d + '/' + u : d) + ' Mbit/s'; },
      activeSince: function (date) { return ', attivo dal ' + date; },
      orderableSince: function (date) { return ', attivabile dal ' + date; },
      stateSince: function (date) { return ' (dal ' + date + ')'; },
      nearestLine: function (label, dist) { return 'Indirizzo più vicino al punto indicato: ' + label + (dist ? ', a ' + dist : ''); },
      candidatesLabel: 'Indirizzi possibili',
      dClass: 'Classe di copertura',
      dWhite: 'Area bianca',
      dWhiteYes: function (cls) { return 'sì — area a fallimento di mercato' + (cls ? ' (area ' + cls + ')' : ''); },
      dWhiteNo: function (cls) { return 'no' + (cls ? ' (area ' + cls + ')' : ''); },
      dTech: 'Tecnologia',
      dSpeed: 'Velocità massima',
      dState: 'Stato',
      dUnits: 'Unità immobiliari',
      dOperator: 'Operatore',
      dCoords: 'Coordinate',
      probesTitle: 'Misure reali delle linee monitorate vicine',
      probesNone: 'Nessuna linea monitorata nelle vicinanze.',
      probeDistance: function (d) { return 'a ' + d; },
      probeSpeeds: function (d, u) { return 'download ' + d + ' Mbit/s, upload ' + u + ' Mbit/s'; },
      probeRTT: function (ms) { return 'latenza ' + ms + ' ms'; },
      probeMeasured: function (when) { return 'misurata il ' + when; },
      probeNoData: 'nessuna misura di velocità',
      probeSynthetic: 'sito sintetico',
      probeEmulated: 'linea emulata (demo): misure di un simulatore, non di una linea reale',
      syntheticWarning: 'Dati sintetici: il registro dei civici di questa demo è inventato, quindi questa risposta non descrive un indirizzo reale.',
      serviceNote: function (m) { return 'Nota del servizio: ' + m; },
      errNotFound: function (e) { return 'Indirizzo non trovato' + (e ? ': ' + e : ''); },
      errNoLookup: function (e) { return 'La verifica della copertura non è ancora disponibile su questo servizio' + (e ? ' (' + e + ')' : ''); },
      errInvalid: function (e) { return 'Richiesta non valida' + (e ? ': ' + e : ''); },
      errServer: function (code) { return 'Servizio temporaneamente non disponibile (' + code + '). Riprova più tardi.'; },
      errNetwork: 'Servizio non raggiungibile. Controlla la connessione e riprova.',

      // tooltips
      tSite: 'Linea monitorata',
      tHamlet: 'Frazione',
      tAddress: 'Indirizzo',
      tWhiteArea: 'Area bianca',
      tComune: 'Comune',
      tState: 'Stato',
      tTech: 'Tecnologia (contratto)',
      tMeasured: 'Misurata',
      tRTT: 'Latenza',
      tAvailability: 'Disponibilità 24 h',
      tLastSeen: 'Ultimo dato',
      tWhere: 'Dove',
      tPosition: 'Posizione',
      tSeat: 'Sede comunale',
      tClass: 'Classe',
      tSince: 'Stato',
      tUnits: 'Unità',
      tAreaClass: 'Tipo di area',
      tISTAT: 'Codice ISTAT',
      tArea: 'Superficie',
      tSynthetic: 'Dati sintetici',
      tAddresses: 'Civici',
      tServedShare: 'Unità servite',
      tWhiteShare: 'Quota delle unità',
      tOperator: 'Operatore',
      tSyntheticSite: 'sito inventato',
      tSyntheticLine: 'tecnologia e contratto illustrativi',
      tEmulated: 'Linea emulata (demo)',
      tClickHint: 'Clic o Invio: verifica la copertura qui'
    },
    en: {
      title: 'fibremon — Ripalta Cremasca: fibre coverage',
      subtitle: 'Is your address covered by fibre? By what, since when, and how do the lines nearby perform.',
      skipToSearch: 'Skip to the address search',
      langToggle: 'Italiano',
      langToggleLang: 'it',
      langToggleLabel: "Passa all'italiano",
      searchTitle: 'Check an address',
      searchLabel: 'Your address',
      searchPlaceholder: 'Your address (e.g. Via Roma 5)',
      searchButton: 'Check',
      searchHint: 'Or click a point on the map.',
      searchEmpty: 'Type an address, for example “Via Roma 5”.',
      answerTitle: 'Answer',
      answerEmpty: 'Type an address or click on the map to learn whether it is covered.',
      loading: 'Searching…',
      mapTitle: 'Coverage map',
      mapLabel: 'Map of Ripalta Cremasca. Drag or use the arrow keys to move it, wheel or +/− to zoom; click, Enter or Space on a point to check its coverage.',
      mapHint: 'Drag to move the map, wheel or the +/− buttons to zoom; click a point to check its coverage. With the keyboard: Tab to the points, Enter to check them, arrows and +/− to move the map.',
      mapLoading: 'Loading the map…',
      mapFailed: 'Map not available: {0}',
      mapUpdated: 'Sites updated at {0}',
      layersTitle: 'Layers',
      'layer.tiles': 'Background map',
      'layer.comune': 'Municipal boundary',
      'layer.hamlets': 'Hamlets',
      'layer.white-areas': 'White areas',
      'layer.addresses': 'Addresses',
      'layer.sites': 'Monitored lines',
      layerUnavailable: '(not available)',
      layerEmpty: '(no data)',
      zoomIn: 'Zoom in',
      zoomOut: 'Zoom out',
      zoomReset: 'Whole comune',
      legendTitle: 'Legend',
      legendAddresses: 'Addresses, by coverage class',
      legendSites: 'Monitored lines, by state',
      legendOther: 'Other',
      legendWhite: 'White area (market failure)',
      legendComune: 'Municipal boundary',
      legendHamlet: 'Hamlet centre',
      legendEstimated: 'Estimated position: the dashed circle is the uncertainty',
      legendHighlight: 'Point of the answer',
      syntheticBadge: 'synthetic data',
      syntheticBadgeTitle: 'Some features on the map (the civic address register, some sites) are invented for the demo.',
      footerNote: 'Site and measurement data: fibremon. Some data (the civic address register, some sites) are synthetic, for the demo.',

      'class.vhcn': 'VHCN — very high capacity network',
      'class.nga': 'NGA ≥30 Mbit/s',
      'class.adequate': 'adequate ≥20 Mbit/s',
      'class.below': 'below threshold (<20 Mbit/s)',
      'state.up': 'up',
      'state.down': 'down',
      'state.silent': 'silent (nothing heard lately)',
      'state.unknown': 'state unknown',
      'rollout.planned': 'planned',
      'rollout.design': 'being designed',
      'rollout.works': 'works in progress',
      'rollout.works_completed': 'works completed',
      'rollout.acceptance': 'in acceptance testing',
      'rollout.ready_for_sale': 'available to order',
      'rollout.active': 'active',
      'rollout.none': 'no works',
      'area.white': 'white',
      'area.grey': 'grey',
      'area.gray': 'grey',
      'area.black': 'black',
      'coord.sourced': 'sourced',
      'coord.approximate': 'approximate',
      'coord.estimated': 'estimated',
      yes: 'yes',
      no: 'no',

      techCovered: {
        FTTH: 'by FTTH', FTTB: 'by FTTB', FTTP: 'by FTTP',
        FWA: 'by FWA (fixed wireless)', FTTC: 'by FTTC (fibre to the cabinet, copper to the home)', VDSL: 'by VDSL (copper)'
      },
      verdictCovered: function (tech, speeds, since) { return 'Covered ' + tech + speeds + since; },
      verdictCopperOnly: function (tech, speeds) { return 'Not covered by fibre: ' + tech + ' only' + (speeds ? ',' + speeds : ''); },
      verdictNone: 'Not covered: no fast fixed network recorded',
      verdictNotYet: function (tech, state, since) { return 'Not covered yet: ' + tech + ', ' + state + since; },
      verdictOutside: 'Outside the monitored area',
      verdictAmbiguous: function (q) { return q ? 'Several addresses match “' + q + '”: choose one' : 'Several addresses match: choose one'; },
      speedsUpTo: function (d, u) { return ' up to ' + (u ? d + '/' + u : d) + ' Mbit/s'; },
      activeSince: function (date) { return ', active since ' + date; },
      orderableSince: function (date) { return ', available to order since ' + date; },
      stateSince: function (date) { return ' (since ' + date + ')'; },
      nearestLine: function (label, dist) { return 'Nearest address to the point: ' + label + (dist ? ', ' + dist + ' away' : ''); },
      candidatesLabel: 'Possible addresses',
      dClass: 'Coverage class',
      dWhite: 'White area',
      dWhiteYes: function (cls) { return 'yes — market failure area' + (cls ? ' (' + cls + ' area)' : ''); },
      dWhiteNo: function (cls) { return 'no' + (cls ? ' (' + cls + ' area)' : ''); },
      dTech: 'Technology',
      dSpeed: 'Maximum speed',
      dState: 'State',
      dUnits: 'Housing units',
      dOperator: 'Operator',
      dCoords: 'Coordinates',
      probesTitle: 'Measured speeds of monitored lines nearby',
      probesNone: 'No monitored line nearby.',
      probeDistance: function (d) { return d + ' away'; },
      probeSpeeds: function (d, u) { return 'download ' + d + ' Mbit/s, upload ' + u + ' Mbit/s'; },
      probeRTT: function (ms) { return 'latency ' + ms + ' ms'; },
      probeMeasured: function (when) { return 'measured ' + when; },
      probeNoData: 'no speed measurement',
      probeSynthetic: 'synthetic site',
      probeEmulated: 'emulated line (demo): measurements of a simulator, not of a real line',
      syntheticWarning: 'Synthetic data: the civic address register of this demo is invented, so this answer does not describe a real address.',
      serviceNote: function (m) { return 'Service note: ' + m; },
      errNotFound: function (e) { return 'Address not found' + (e ? ': ' + e : ''); },
      errNoLookup: function (e) { return 'Coverage lookup is not available on this service yet' + (e ? ' (' + e + ')' : ''); },
      errInvalid: function (e) { return 'Invalid request' + (e ? ': ' + e : ''); },
      errServer: function (code) { return 'Service temporarily unavailable (' + code + '). Please retry later.'; },
      errNetwork: 'The service cannot be reached. Check your connection and retry.',

      tSite: 'Monitored line',
      tHamlet: 'Hamlet',
      tAddress: 'Address',
      tWhiteArea: 'White area',
      tComune: 'Comune',
      tState: 'State',
      tTech: 'Technology (contract)',
      tMeasured: 'Measured',
      tRTT: 'Latency',
      tAvailability: 'Availability 24 h',
      tLastSeen: 'Last heard',
      tWhere: 'Where',
      tPosition: 'Position',
      tSeat: 'Municipal seat',
      tClass: 'Class',
      tSince: 'State',
      tUnits: 'Units',
      tAreaClass: 'Area type',
      tISTAT: 'ISTAT code',
      tArea: 'Area',
      tSynthetic: 'Synthetic data',
      tAddresses: 'Civic numbers',
      tServedShare: 'Units served',
      tWhiteShare: 'Share of units',
      tOperator: 'Operator',
      tSyntheticSite: 'invented site',
      tSyntheticLine: 'technology and contract are illustrative',
      tEmulated: 'Emulated line (demo)',
      tClickHint: 'Click or Enter: check the coverage here'
    }
  };

  // ---------------------------------------------------------------------
  // Configuration, state, helpers.

  var cfg = readConfig();
  var API = cfg.apiBase || 'api/v1';
  var SVGNS = 'http://www.w3.org/2000/svg';
  var DATA_LAYERS = ['comune', 'hamlets', 'white-areas', 'addresses', 'sites'];
  // The "layer" property values each drawn layer takes: the hamlets layer
  // also carries the hamlet zones.
  var LAYER_VALUES = { hamlets: ['hamlets', 'hamlet-zones'] };
  var SITES_REFRESH_MS = 30000;
  var M_PER_DEG = 111320; // metres per degree of latitude (and of longitude at the equator)
  var CLASS_COLORS = { vhcn: '#2e7d32', nga: '#1565c0', adequate: '#f9a825', below: '#c62828' };
  var STATE_COLORS = { up: '#2e7d32', down: '#c62828', silent: '#ef6c00', unknown: '#9e9e9e' };
  var FIBRE = { FTTH: true, FTTB: true, FTTP: true };
  var COVERED = { FTTH: true, FTTB: true, FTTP: true, FWA: true, FTTC: true, VDSL: true };
  // A bounding box of the comune, used only if the boundary cannot be loaded.
  var DEFAULT_BBOX = [9.6491, 45.3125, 9.7178, 45.3466];

  var lang = initialLang();
  var state = {
    layers: {},     // name -> {status, features, code}
    features: [],   // fid -> {layer, feature}
    answer: { kind: 'empty' },
    querySeq: 0,
    sitesUpdated: null
  };
  var proj = null;  // {lon0, lat0, kx}
  var view = null;  // {cx, cy, s (metres per pixel), fitS}
  var vb = null;    // current viewBox [x, y, w, h]

  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };

  var mapEl = $('#map');
  var svg = $('#map svg');
  var tooltip = $('#tooltip');
  var groups = {};
  $$('g[data-layer]', svg).forEach(function (g) { groups[g.getAttribute('data-layer')] = g; });

  function readConfig() {
    try {
      var el = document.getElementById('config');
      return JSON.parse(el ? el.textContent : '{}') || {};
    } catch (e) {
      return {};
    }
  }

  function initialLang() {
    var q = new URLSearchParams(window.location.search).get('lang');
    if (q === 'it' || q === 'en') return q;
    try {
      var s = window.localStorage.getItem('fibremon.lang');
      if (s === 'it' || s === 'en') return s;
    } catch (e) { /* storage disabled */ }
    return 'it';
  }

  // t returns the string key in the current language; functions are called
  // with the remaining arguments, strings get {0}, {1}... replaced.
  function t(key) {
    var v = I18N[lang][key];
    if (v === undefined) v = I18N.it[key];
    if (v === undefined) return key;
    var args = Array.prototype.slice.call(arguments, 1);
    if (typeof v === 'function') return v.apply(null, args);
    return String(v).replace(/\{(\d)\}/g, function (_, i) { return args[+i] === undefined ? '' : args[+i]; });
  }

  // tv translates a value of a known vocabulary (state.up, class.nga...), or
  // returns the value itself when it is not in the dictionary.
  function tv(prefix, value) {
    if (value === undefined || value === null || value === '') return '';
    var k = prefix + '.' + value;
    return I18N[lang][k] !== undefined ? I18N[lang][k] : String(value);
  }

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  function sv(tag, attrs, children) {
    var e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  function setAttrs(e, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) return;
      if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    });
  }

  function append(e, children) {
    if (children === undefined || children === null) return;
    (Array.isArray(children) ? children : [children]).forEach(function (c) {
      if (c === undefined || c === null || c === false) return;
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
  }

  function isNum(v) { return typeof v === 'number' && isFinite(v); }

  function fmtNum(v, maxFrac) {
    if (!isNum(v)) return '';
    return new Intl.NumberFormat(lang === 'it' ? 'it-IT' : 'en-GB', {
      maximumFractionDigits: maxFrac === undefined ? 1 : maxFrac, useGrouping: false
    }).format(v);
  }

  function fmtMbps(v) { return fmtNum(v, v < 10 ? 1 : (v < 100 ? 1 : 0)); }

  function fmtDist(m) {
    if (!isNum(m)) return '';
    if (m < 1000) return fmtNum(Math.round(m), 0) + ' m';
    return fmtNum(m / 1000, 1) + ' km';
  }

  function pad2(n) { return (n < 10 ? '0' : '') + n; }

  // fmtDate formats a date "2021-06-15" (or the date part of an RFC 3339
  // time) as 15/06/2021 or 15 June 2021, without time-zone arithmetic.
  function fmtDate(s) {
    var m = /^(\d{4})-(\d{2})-(\d{2})/.exec(s || '');
    if (!m) return s ? String(s) : '';
    var y = +m[1], mo = +m[2], d = +m[3];
    if (mo < 1 || mo > 12) return String(s);
    return lang === 'it' ? pad2(d) + '/' + pad2(mo) + '/' + y : d + ' ' + MONTHS.en[mo - 1] + ' ' + y;
  }

  // fmtTime formats an RFC 3339 time in the browser's time zone.
  function fmtTime(s) {
    var d = new Date(s);
    if (!s || isNaN(d.getTime())) return s ? String(s) : '';
    var hm = pad2(d.getHours()) + ':' + pad2(d.getMinutes());
    if (lang === 'it') return pad2(d.getDate()) + '/' + pad2(d.getMonth() + 1) + '/' + d.getFullYear() + ' ' + hm;
    return d.getDate() + ' ' + MONTHS.en[d.getMonth()] + ' ' + d.getFullYear() + ', ' + hm;
  }

  function safeColor(c, fallback) {
    return typeof c === 'string' && /^#[0-9a-fA-F]{3,8}$/.test(c) ? c : fallback;
  }

  // ---------------------------------------------------------------------
  // Language.

  function applyLang() {
    document.documentElement.lang = lang;
    document.title = t('title');
    $$('[data-i18n]').forEach(function (e) { e.textContent = t(e.getAttribute('data-i18n')); });
    $$('[data-i18n-placeholder]').forEach(function (e) { e.setAttribute('placeholder', t(e.getAttribute('data-i18n-placeholder'))); });
    $$('[data-i18n-aria-label]').forEach(function (e) { e.setAttribute('aria-label', t(e.getAttribute('data-i18n-aria-label'))); });
    $$('[data-i18n-title]').forEach(function (e) { e.setAttribute('title', t(e.getAttribute('data-i18n-title'))); });
    var b = $('#lang-toggle');
    b.textContent = t('langToggle');
    b.setAttribute('lang', t('langToggleLang'));
    b.setAttribute('aria-label', t('langToggleLabel'));
    $('#synthetic-badge').setAttribute('title', t('syntheticBadgeTitle'));
    updateLayerNotes();
    updateMapUpdated();
  }

  function setLang(l) {
    lang = l;
    try { window.localStorage.setItem('fibremon.lang', l); } catch (e) { /* storage disabled */ }
    applyLang();
    buildLegend();
    if (proj) drawAll();
    renderAnswer();
    hideTooltip();
  }

  // ---------------------------------------------------------------------
  // Loading the layers.

  var allPromise = null;

  function getJSON(url) {
    return fetch(url, { headers: { Accept: 'application/geo+json, application/json' }, cache: 'no-store' })
      .then(function (res) {
        return res.text().then(function (txt) {
          var body = null;
          try { body = txt ? JSON.parse(txt) : null; } catch (e) { body = null; }
          return { ok: res.ok, status: res.status, body: body };
        });
      });
  }

  // fetchAll is the collection without ?layer=, the fallback for a service
  // that refuses ?layer= with 400. Shared by the layers of one load.
  function fetchAll() {
    if (!allPromise) {
      allPromise = getJSON(API + '/coverage.geojson')
        .then(function (r) { return r.ok && r.body && Array.isArray(r.body.features) ? r.body : null; })
        .catch(function () { return null; });
    }
    return allPromise;
  }

  // loadLayer fetches one layer. A layer the service does not have (4xx)
  // is "unavailable" and the page goes on without it. Features that say
  // which layer they belong to are kept only for this layer, so a service
  // that ignores ?layer= also works.
  function loadLayer(name) {
    return getJSON(API + '/coverage.geojson?layer=' + encodeURIComponent(name))
      .then(function (r) {
        if (r.status === 400) {
          return fetchAll().then(function (all) {
            return all ? { ok: true, status: 200, body: all } : r;
          });
        }
        return r;
      })
      .then(function (r) {
        if (!r.ok || !r.body || !Array.isArray(r.body.features)) {
          return { status: 'unavailable', code: r.status, features: [] };
        }
        if (typeof r.body.attribution === 'string' && r.body.attribution) {
          $('#boundary-attribution').textContent = r.body.attribution;
        }
        var feats = r.body.features.filter(function (f) {
          if (!f || !f.geometry) return false;
          var p = f.properties || {};
          return p.layer === undefined || p.layer === null || (LAYER_VALUES[name] || [name]).indexOf(p.layer) >= 0;
        });
        return { status: feats.length ? 'ok' : 'empty', features: feats, code: r.status };
      })
      .catch(function (e) {
        return { status: 'unavailable', code: 0, features: [], error: String(e && e.message || e) };
      });
  }

  function updateLayerNotes() {
    DATA_LAYERS.forEach(function (name) {
      var st = state.layers[name];
      var note = $('[data-note-for="' + name + '"]');
      var box = $('#layer-' + name);
      if (!note || !box) return;
      var s = st ? st.status : 'loading';
      note.textContent = s === 'unavailable' ? t('layerUnavailable') : (s === 'empty' ? t('layerEmpty') : '');
      box.disabled = s === 'unavailable' || s === 'empty';
      box.closest('label').classList.toggle('disabled', box.disabled);
    });
  }

  function updateMapUpdated() {
    var p = $('#map-updated');
    if (!p) return;
    p.textContent = state.sitesUpdated ? t('mapUpdated', pad2(state.sitesUpdated.getHours()) + ':' + pad2(state.sitesUpdated.getMinutes())) : '';
  }

  function setStatus(text) { $('#map-status').textContent = text || ''; }

  // ---------------------------------------------------------------------
  // Projection and view: equirectangular around the comune, in metres.

  function eachCoord(geom, fn) {
    if (!geom) return;
    var walk = function (c) {
      if (!Array.isArray(c)) return;
      if (typeof c[0] === 'number') { if (isNum(c[0]) && isNum(c[1])) fn(c[0], c[1]); return; }
      c.forEach(walk);
    };
    if (geom.type === 'GeometryCollection') (geom.geometries || []).forEach(function (g) { eachCoord(g, fn); });
    else walk(geom.coordinates);
  }

  function bboxOf(features) {
    var b = [Infinity, Infinity, -Infinity, -Infinity];
    features.forEach(function (f) {
      eachCoord(f.geometry, function (lon, lat) {
        if (lon < b[0]) b[0] = lon;
        if (lat < b[1]) b[1] = lat;
        if (lon > b[2]) b[2] = lon;
        if (lat > b[3]) b[3] = lat;
      });
    });
    return isFinite(b[0]) ? b : null;
  }

  function setupProjection() {
    var c = state.layers.comune;
    var bb = c && c.status === 'ok' ? bboxOf(c.features) : null;
    if (!bb) {
      var all = [];
      DATA_LAYERS.forEach(function (n) { if (state.layers[n]) all = all.concat(state.layers[n].features); });
      bb = bboxOf(all) || DEFAULT_BBOX;
    }
    var lon0 = (bb[0] + bb[2]) / 2, lat0 = (bb[1] + bb[3]) / 2;
    proj = { lon0: lon0, lat0: lat0, kx: M_PER_DEG * Math.cos(lat0 * Math.PI / 180) };
    var p0 = project(bb[0], bb[3]), p1 = project(bb[2], bb[1]);
    proj.fit = [p0[0], p0[1], p1[0], p1[1]];
  }

  function project(lon, lat) {
    return [(lon - proj.lon0) * proj.kx, -(lat - proj.lat0) * M_PER_DEG];
  }

  function unproject(x, y) {
    return [proj.lon0 + x / proj.kx, proj.lat0 - y / M_PER_DEG];
  }

  function svgSize() {
    var r = svg.getBoundingClientRect();
    return [Math.max(r.width, 1), Math.max(r.height, 1)];
  }

  function fitView() {
    var sz = svgSize();
    var f = proj.fit;
    var w = Math.max(f[2] - f[0], 200), h = Math.max(f[3] - f[1], 200);
    var s = Math.max(w / sz[0], h / sz[1]) * 1.08;
    view = { cx: (f[0] + f[2]) / 2, cy: (f[1] + f[3]) / 2, s: s, fitS: s, fitted: true };
    applyView();
  }

  function applyView() {
    if (!view) return;
    var sz = svgSize();
    vb = [view.cx - sz[0] * view.s / 2, view.cy - sz[1] * view.s / 2, sz[0] * view.s, sz[1] * view.s];
    svg.setAttribute('viewBox', vb.map(function (v) { return v.toFixed(2); }).join(' '));
    svg.style.setProperty('--u', String(view.s));
    var hatch = document.getElementById('hatch');
    if (hatch) hatch.setAttribute('patternTransform', 'rotate(45) scale(' + (view.s / 5).toFixed(4) + ')');
    scheduleTiles();
  }

  // onResize keeps the whole comune in view until the visitor moves the
  // map; after that it keeps the scale and the centre.
  function onResize() {
    if (view && view.fitted) fitView();
    else applyView();
  }

  function zoomAt(factor, x, y) {
    if (!view) return;
    view.fitted = false;
    var s = Math.min(Math.max(view.s / factor, 0.05), view.fitS * 3);
    var f = view.s / s;
    if (x === undefined) { x = view.cx; y = view.cy; }
    view.cx = x + (view.cx - x) / f;
    view.cy = y + (view.cy - y) / f;
    view.s = s;
    applyView();
  }

  function panBy(dxPx, dyPx) {
    if (!view) return;
    view.fitted = false;
    view.cx += dxPx * view.s;
    view.cy += dyPx * view.s;
    applyView();
  }

  function clientToMap(clientX, clientY) {
    var r = svg.getBoundingClientRect();
    return [vb[0] + (clientX - r.left) * view.s, vb[1] + (clientY - r.top) * view.s];
  }

  function ensureVisible(x, y) {
    if (!vb) return;
    var m = 0.1;
    if (x < vb[0] + vb[2] * m || x > vb[0] + vb[2] * (1 - m) || y < vb[1] + vb[3] * m || y > vb[1] + vb[3] * (1 - m)) {
      view.cx = x;
      view.cy = y;
      applyView();
    }
  }

  // ---------------------------------------------------------------------
  // Optional raster tiles (Web Mercator) under the SVG layers.

  var tileTimer = null;
  var tileEls = {};

  function scheduleTiles() {
    if (!cfg.tileURL) return;
    if (tileTimer) clearTimeout(tileTimer);
    tileTimer = setTimeout(drawTiles, 120);
  }

  function lon2tile(lon, z) { return Math.floor((lon + 180) / 360 * Math.pow(2, z)); }
  function lat2tile(lat, z) {
    var r = lat * Math.PI / 180;
    return Math.floor((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2 * Math.pow(2, z));
  }
  function tile2lon(x, z) { return x / Math.pow(2, z) * 360 - 180; }
  function tile2lat(y, z) {
    var n = Math.PI - 2 * Math.PI * y / Math.pow(2, z);
    return 180 / Math.PI * Math.atan(0.5 * (Math.exp(n) - Math.exp(-n)));
  }

  function drawTiles() {
    var g = groups.tiles;
    if (!cfg.tileURL || !proj || !vb || !$('#layer-tiles').checked) {
      g.replaceChildren();
      tileEls = {};
      return;
    }
    var z = Math.round(Math.log2(40075016.686 * Math.cos(proj.lat0 * Math.PI / 180) / (256 * view.s)));
    z = Math.min(Math.max(z, 1), 19);
    var nw = unproject(vb[0], vb[1]), se = unproject(vb[0] + vb[2], vb[1] + vb[3]);
    var x0, x1, y0, y1;
    for (;;) {
      x0 = lon2tile(nw[0], z); x1 = lon2tile(se[0], z);
      y0 = lat2tile(nw[1], z); y1 = lat2tile(se[1], z);
      if ((x1 - x0 + 1) * (y1 - y0 + 1) <= 64 || z <= 1) break;
      z--;
    }
    var max = Math.pow(2, z) - 1;
    var keep = {};
    for (var x = Math.max(x0, 0); x <= Math.min(x1, max); x++) {
      for (var y = Math.max(y0, 0); y <= Math.min(y1, max); y++) {
        var key = z + '/' + x + '/' + y;
        keep[key] = true;
        if (tileEls[key]) continue;
        var a = project(tile2lon(x, z), tile2lat(y, z)), b = project(tile2lon(x + 1, z), tile2lat(y + 1, z));
        var url = cfg.tileURL.replace('{z}', z).replace('{x}', x).replace('{y}', y)
          .replace('{s}', 'abc'.charAt((x + y) % 3)).replace('{r}', '');
        var img = sv('image', {
          href: url, x: a[0].toFixed(2), y: a[1].toFixed(2),
          width: (b[0] - a[0]).toFixed(2), height: (b[1] - a[1]).toFixed(2),
          preserveAspectRatio: 'none', 'data-tile': key, 'aria-hidden': 'true'
        });
        tileEls[key] = img;
        g.appendChild(img);
      }
    }
    Object.keys(tileEls).forEach(function (k) {
      if (!keep[k]) { tileEls[k].remove(); delete tileEls[k]; }
    });
  }

  // ---------------------------------------------------------------------
  // Drawing the layers.

  function ringPath(ring) {
    var d = '';
    ring.forEach(function (c, i) {
      if (!isNum(c[0]) || !isNum(c[1])) return;
      var p = project(c[0], c[1]);
      d += (i ? 'L' : 'M') + p[0].toFixed(1) + ' ' + p[1].toFixed(1);
    });
    return d ? d + 'Z' : '';
  }

  function polygonsOf(geom) {
    if (!geom) return [];
    if (geom.type === 'Polygon') return [geom.coordinates || []];
    if (geom.type === 'MultiPolygon') return geom.coordinates || [];
    if (geom.type === 'GeometryCollection') {
      return (geom.geometries || []).reduce(function (a, g) { return a.concat(polygonsOf(g)); }, []);
    }
    return [];
  }

  function pointsOf(geom) {
    if (!geom) return [];
    if (geom.type === 'Point') return [geom.coordinates];
    if (geom.type === 'MultiPoint') return geom.coordinates || [];
    if (geom.type === 'GeometryCollection') {
      return (geom.geometries || []).reduce(function (a, g) { return a.concat(pointsOf(g)); }, []);
    }
    return [];
  }

  function linesOf(geom) {
    if (!geom) return [];
    if (geom.type === 'LineString') return [geom.coordinates || []];
    if (geom.type === 'MultiLineString') return geom.coordinates || [];
    return [];
  }

  function polygonD(geom) {
    return polygonsOf(geom).map(function (poly) { return poly.map(ringPath).join(''); }).join('');
  }

  function centroidOf(geom) {
    var sx = 0, sy = 0, n = 0;
    polygonsOf(geom).forEach(function (poly) {
      (poly[0] || []).forEach(function (c) { if (isNum(c[0]) && isNum(c[1])) { sx += c[0]; sy += c[1]; n++; } });
    });
    return n ? [sx / n, sy / n] : null;
  }

  function props(f) { return f.properties || {}; }

  function featureName(f) {
    var p = props(f);
    return p.label || p.name || p.address || p.site_id || (f.id !== undefined ? String(f.id) : '');
  }

  // tooltipRows returns [label, value] pairs of the feature's key
  // properties in the current language; the first row is its title.
  function tooltipRows(layer, f) {
    var p = props(f);
    var rows = [];
    var add = function (k, v) { if (v !== undefined && v !== null && v !== '') rows.push([k, String(v)]); };
    var position = function () {
      if (!p.coord_status) return;
      var s = tv('coord', p.coord_status);
      if (isNum(p.coord_uncertainty_m) && p.coord_status !== 'sourced') s += ' (±' + fmtDist(p.coord_uncertainty_m) + ')';
      add(t('tPosition'), s);
    };
    switch (layer) {
    case 'sites':
      add(t('tSite'), p.name || p.site_id);
      add(t('tState'), tv('state', p.state || 'unknown'));
      add(t('tTech'), [p.technology, isNum(p.contract_download_mbps) ? fmtMbps(p.contract_download_mbps) + (isNum(p.contract_upload_mbps) ? '/' + fmtMbps(p.contract_upload_mbps) : '') + ' Mbit/s' : ''].filter(Boolean).join(' '));
      if (isNum(p.download_mbps) || isNum(p.upload_mbps)) {
        add(t('tMeasured'), (isNum(p.download_mbps) ? '↓ ' + fmtMbps(p.download_mbps) : '↓ –') + ' / ' + (isNum(p.upload_mbps) ? '↑ ' + fmtMbps(p.upload_mbps) : '↑ –') + ' Mbit/s');
      }
      if (isNum(p.rtt_ms)) add(t('tRTT'), fmtNum(p.rtt_ms, 1) + ' ms');
      if (isNum(p.availability_24h)) add(t('tAvailability'), fmtNum(p.availability_24h * 100, 1) + ' %');
      if (p.last_seen) add(t('tLastSeen'), fmtTime(p.last_seen));
      add(t('tWhere'), [p.address, p.hamlet].filter(Boolean).join(', '));
      position();
      if (p.synthetic || p.line_synthetic) add(t('tSynthetic'), [p.synthetic ? t('tSyntheticSite') : '', p.line_synthetic ? t('tSyntheticLine') : ''].filter(Boolean).join('; '));
      if (p.line_emulated) add(t('tEmulated'), t('yes'));
      break;
    case 'hamlets':
      add(t('tHamlet'), p.label || p.name);
      if (p.seat) add(t('tSeat'), t('yes'));
      if (isNum(p.addresses)) add(t('tAddresses'), fmtNum(p.addresses, 0) + (isNum(p.units) ? ' (' + t('tUnits').toLowerCase() + ' ' + fmtNum(p.units, 0) + ')' : ''));
      if (isNum(p.served_share)) add(t('tServedShare'), fmtNum(p.served_share * 100, 1) + ' %');
      if (isNum(p.area_km2)) add(t('tArea'), fmtNum(p.area_km2, 2) + ' km²');
      position();
      if (p.synthetic_addresses) add(t('tSynthetic'), t('yes'));
      break;
    case 'addresses':
      add(t('tAddress'), p.label || [p.street, p.number].filter(Boolean).join(' '));
      add(t('tWhere'), p.hamlet);
      if (p.class) add(t('tClass'), tv('class', p.class));
      var down = isNum(p.max_download_mbps) ? p.max_download_mbps : p.max_down_mbps;
      var up = isNum(p.max_upload_mbps) ? p.max_upload_mbps : p.max_up_mbps;
      add(t('tTech'), [p.technology === 'unknown' ? '' : p.technology, isNum(down) ? fmtMbps(down) + (isNum(up) ? '/' + fmtMbps(up) : '') + ' Mbit/s' : ''].filter(Boolean).join(' '));
      if (p.state) add(t('tSince'), tv('rollout', p.state) + (p.state_since ? ' ' + t('stateSince', fmtDate(p.state_since)).trim() : ''));
      if (p.operator) add(t('tOperator'), p.operator);
      if (isNum(p.units)) add(t('tUnits'), fmtNum(p.units, 0));
      if (p.white_area !== undefined) add(t('tWhiteArea'), p.white_area ? t('yes') : t('no'));
      if (p.synthetic) add(t('tSynthetic'), t('yes'));
      break;
    case 'white-areas':
      add(t('tWhiteArea'), p.label || p.name || p.hamlet || featureName(f));
      if (p.area_class) add(t('tAreaClass'), tv('area', p.area_class));
      if (isNum(p.addresses)) add(t('tAddresses'), fmtNum(p.addresses, 0) + (isNum(p.units) ? ' (' + t('tUnits').toLowerCase() + ' ' + fmtNum(p.units, 0) + ')' : ''));
      if (isNum(p.units_share)) add(t('tWhiteShare'), fmtNum(p.units_share * 100, 1) + ' %');
      if (p.synthetic) add(t('tSynthetic'), t('yes'));
      break;
    case 'comune':
      add(t('tComune'), p.name);
      add(t('tISTAT'), p.istat_code);
      if (isNum(p.area_km2)) add(t('tArea'), fmtNum(p.area_km2, 2) + ' km²');
      break;
    default:
      add(layer, featureName(f));
    }
    if (!rows.length) add(t('layer.' + layer), featureName(f));
    return rows;
  }

  function titleText(layer, f) {
    var rows = tooltipRows(layer, f);
    return rows.map(function (r, i) { return i === 0 ? r[1] : r[0] + ': ' + r[1]; }).join('\n');
  }

  function register(layer, f, elem, lonlat) {
    var fid = state.features.length;
    state.features.push({ layer: layer, feature: f });
    elem.setAttribute('data-fid', fid);
    if (lonlat) {
      elem.setAttribute('data-lon', lonlat[0]);
      elem.setAttribute('data-lat', lonlat[1]);
    }
    elem.insertBefore(sv('title', { text: titleText(layer, f) }), elem.firstChild);
    return elem;
  }

  // pointMarker draws a marker whose size stays constant on screen: the
  // .sym group is scaled by --u (metres per pixel) in the stylesheet.
  function pointMarker(cls, x, y, shapes, focusable, label) {
    var sym = sv('g', { class: 'sym' }, shapes);
    var g = sv('g', {
      class: 'pt ' + cls, transform: 'translate(' + x.toFixed(1) + ' ' + y.toFixed(1) + ')',
      tabindex: focusable ? '0' : null, role: focusable ? 'button' : null,
      'aria-label': focusable ? label : null
    }, sym);
    return g;
  }

  function drawComune(g, feats) {
    feats.forEach(function (f) {
      var d = polygonD(f.geometry);
      if (!d) return;
      g.appendChild(register('comune', f, sv('g', { class: 'comune' }, sv('path', { d: d, 'fill-rule': 'evenodd' }))));
    });
  }

  function drawHamlets(g, feats) {
    var labels = groups['hamlet-labels'];
    var pointNames = {};
    feats.forEach(function (f) { if (pointsOf(f.geometry).length) pointNames[props(f).name] = true; });
    // zones first, then uncertainty circles, then centres and labels
    feats.forEach(function (f) {
      var d = polygonD(f.geometry);
      if (!d) return;
      var zone = sv('g', { class: 'hamlet-zone' }, sv('path', { d: d, 'fill-rule': 'evenodd' }));
      var c = centroidOf(f.geometry);
      if (c && !pointNames[props(f).name]) {
        var p = project(c[0], c[1]);
        labels.appendChild(pointMarker('zone-label', p[0], p[1], sv('text', { class: 'label', 'text-anchor': 'middle', y: 4, text: featureName(f) }), false));
      }
      g.appendChild(register('hamlets', f, zone));
    });
    feats.forEach(function (f) {
      var p = props(f);
      if (p.coord_status && p.coord_status !== 'sourced' && isNum(p.coord_uncertainty_m)) {
        pointsOf(f.geometry).forEach(function (c) {
          var xy = project(c[0], c[1]);
          g.appendChild(sv('circle', { class: 'uncertainty', cx: xy[0].toFixed(1), cy: xy[1].toFixed(1), r: p.coord_uncertainty_m, 'aria-hidden': 'true' }));
        });
      }
    });
    feats.forEach(function (f) {
      var p = props(f);
      pointsOf(f.geometry).forEach(function (c) {
        var xy = project(c[0], c[1]);
        var m = pointMarker('hamlet' + (p.seat ? ' seat' : ''), xy[0], xy[1], sv('circle', { r: p.seat ? 5 : 4 }), true, featureName(f));
        g.appendChild(register('hamlets', f, m, c));
        // The label goes in a group above the addresses and sites, so
        // that they do not hide it.
        labels.appendChild(pointMarker('hamlet-label' + (p.seat ? ' seat' : ''), xy[0], xy[1],
          sv('text', { class: 'label', x: 8, y: -7, text: p.label || p.name || '' }), false));
      });
    });
  }

  function addressColor(p) {
    return safeColor(p.fill_color, CLASS_COLORS[p.class] || '#757575');
  }

  function drawAddresses(g, feats) {
    var focusable = feats.length <= 150;
    feats.forEach(function (f) {
      var p = props(f);
      pointsOf(f.geometry).forEach(function (c) {
        var xy = project(c[0], c[1]);
        var m = pointMarker('address', xy[0], xy[1], sv('circle', { r: 3.5, fill: addressColor(p) }), focusable, featureName(f));
        m.setAttribute('data-class', p.class || '');
        g.appendChild(register('addresses', f, m, c));
      });
      var d = polygonD(f.geometry);
      if (d) g.appendChild(register('addresses', f, sv('g', { class: 'address-area' }, sv('path', { d: d, fill: addressColor(p) }))));
    });
  }

  function drawWhiteAreas(g, feats) {
    var n = feats.reduce(function (a, f) { return a + pointsOf(f.geometry).length; }, 0);
    var focusable = n <= 150;
    feats.forEach(function (f) {
      var d = polygonD(f.geometry);
      if (d) g.appendChild(register('white-areas', f, sv('g', { class: 'white-area' }, sv('path', { d: d, 'fill-rule': 'evenodd' }))));
      linesOf(f.geometry).forEach(function (line) {
        var ld = ringPath(line).replace(/Z$/, '');
        if (ld) g.appendChild(register('white-areas', f, sv('g', { class: 'white-area line' }, sv('path', { d: ld }))));
      });
      pointsOf(f.geometry).forEach(function (c) {
        var xy = project(c[0], c[1]);
        var m = pointMarker('white-point', xy[0], xy[1], sv('rect', { x: -4.5, y: -4.5, width: 9, height: 9 }), focusable, featureName(f));
        g.appendChild(register('white-areas', f, m, c));
      });
    });
  }

  var STATE_GLYPH = { up: '✓', down: '✕', silent: '…', unknown: '?' };

  function drawSites(g, feats) {
    feats.forEach(function (f) {
      var p = props(f);
      var st = STATE_COLORS[p.state] ? p.state : 'unknown';
      var color = safeColor(p.marker_color, STATE_COLORS[st]);
      pointsOf(f.geometry).forEach(function (c) {
        var xy = project(c[0], c[1]);
        var m = pointMarker('site', xy[0], xy[1], [
          sv('rect', { x: -8, y: -8, width: 16, height: 16, rx: 2, transform: 'rotate(45)', fill: color }),
          sv('text', { class: 'glyph', y: 4, 'text-anchor': 'middle', text: STATE_GLYPH[st], 'aria-hidden': 'true' })
        ], true, (p.name || p.site_id || '') + ' — ' + tv('state', st));
        m.setAttribute('data-state', st);
        m.setAttribute('data-site-id', p.site_id || '');
        if (p.synthetic) m.setAttribute('data-synthetic', 'true');
        g.appendChild(register('sites', f, m, c));
      });
    });
  }

  var DRAW = { comune: drawComune, hamlets: drawHamlets, 'white-areas': drawWhiteAreas, addresses: drawAddresses, sites: drawSites };

  function drawLayer(name) {
    var g = groups[name];
    g.replaceChildren();
    if (name === 'hamlets') groups['hamlet-labels'].replaceChildren();
    var st = state.layers[name];
    g.setAttribute('data-status', st ? st.status : 'loading');
    if (st && st.status === 'ok') DRAW[name](g, st.features);
    g.setAttribute('data-count', g.querySelectorAll('[data-fid]').length);
    applyLayerVisibility(name);
  }

  function drawAll() {
    state.features = [];
    DATA_LAYERS.forEach(drawLayer);
    drawHighlight();
    updateBadge();
  }

  function layerVisible(name) {
    var box = $('#layer-' + name);
    return !box || box.checked;
  }

  function applyLayerVisibility(name) {
    var gs = [groups[name]];
    if (name === 'hamlets') gs.push(groups['hamlet-labels']);
    gs.forEach(function (g) {
      if (!g) return;
      if (layerVisible(name)) g.removeAttribute('display');
      else g.setAttribute('display', 'none');
    });
  }

  function updateBadge() {
    var any = DATA_LAYERS.some(function (name) {
      var st = state.layers[name];
      return layerVisible(name) && st && st.status === 'ok' && st.features.some(function (f) { return props(f).synthetic === true; });
    });
    $('#synthetic-badge').hidden = !any;
  }

  // ---------------------------------------------------------------------
  // The highlighted point of an answer.

  var highlights = [];

  function setHighlights(list, focus) {
    highlights = list.filter(function (h) { return isNum(h.lon) && isNum(h.lat); });
    drawHighlight();
    if (focus && highlights.length && proj) {
      var xy = project(highlights[0].lon, highlights[0].lat);
      ensureVisible(xy[0], xy[1]);
    }
  }

  function drawHighlight() {
    var g = groups.highlight;
    g.replaceChildren();
    if (!proj) return;
    highlights.forEach(function (h, i) {
      var xy = project(h.lon, h.lat);
      var m = pointMarker('highlight ' + (h.kind || ''), xy[0], xy[1], [
        sv('circle', { class: 'halo', r: 13 }),
        sv('circle', { class: 'ring', r: 13 }),
        sv('circle', { class: 'dot', r: 2.5 }),
        h.label ? sv('text', { class: 'label', x: 17, y: 4, text: h.label }) : null
      ], false);
      m.setAttribute('data-highlight', h.kind || 'point');
      m.setAttribute('data-index', i);
      m.appendChild(sv('title', { text: h.label || '' }));
      g.appendChild(m);
    });
  }

  // ---------------------------------------------------------------------
  // Tooltip.

  var tipFid = null;

  function showTooltip(fid, clientX, clientY) {
    var rec = state.features[fid];
    if (!rec) return;
    var rows = tooltipRows(rec.layer, rec.feature);
    tooltip.replaceChildren();
    tooltip.appendChild(el('strong', { text: rows.length ? rows[0][1] : '' }));
    if (rows.length > 1) {
      var dl = el('dl');
      rows.slice(1).forEach(function (r) { dl.appendChild(el('dt', { text: r[0] })); dl.appendChild(el('dd', { text: r[1] })); });
      tooltip.appendChild(dl);
    }
    if (rec.layer !== 'comune') tooltip.appendChild(el('p', { class: 'tip-hint', text: t('tClickHint') }));
    tooltip.setAttribute('data-layer', rec.layer);
    tooltip.hidden = false;
    tipFid = fid;
    var mr = mapEl.getBoundingClientRect();
    var tw = tooltip.offsetWidth, th = tooltip.offsetHeight;
    var x = clientX - mr.left + 14, y = clientY - mr.top + 14;
    if (x + tw > mr.width - 4) x = Math.max(4, clientX - mr.left - tw - 14);
    if (y + th > mr.height - 4) y = Math.max(4, clientY - mr.top - th - 14);
    tooltip.style.left = x + 'px';
    tooltip.style.top = y + 'px';
  }

  function hideTooltip() {
    tooltip.hidden = true;
    tipFid = null;
  }

  function featureElement(target) {
    var e = target && target.closest ? target.closest('[data-fid]') : null;
    return e && svg.contains(e) ? e : null;
  }

  // ---------------------------------------------------------------------
  // The answer.

  function queryCoverage(params, label) {
    var seq = ++state.querySeq;
    var qs = params.toString();
    state.answer = { kind: 'loading', query: qs };
    renderAnswer();
    return getJSON(API + '/coverage?' + qs).then(function (r) {
      if (seq !== state.querySeq) return;
      if (r.ok && r.body && typeof r.body === 'object') {
        state.answer = { kind: 'answer', query: qs, body: r.body };
      } else {
        state.answer = { kind: 'error', query: qs, status: r.status, body: r.body };
      }
      state.answer.label = label;
      renderAnswer(true);
    }, function () {
      if (seq !== state.querySeq) return;
      state.answer = { kind: 'error', query: qs, status: 0 };
      renderAnswer(true);
    });
  }

  function queryPoint(lon, lat) {
    if (!isNum(lon) || !isNum(lat)) return;
    var p = new URLSearchParams();
    p.set('lat', lat.toFixed(6));
    p.set('lon', lon.toFixed(6));
    setHighlights([{ lon: lon, lat: lat, kind: 'query' }], false);
    queryCoverage(p);
  }

  function queryAddress(q) {
    var p = new URLSearchParams();
    p.set('address', q);
    queryCoverage(p);
  }

  function speedsText(d, u) {
    if (!isNum(d)) return '';
    return t('speedsUpTo', fmtMbps(d), isNum(u) ? fmtMbps(u) : '');
  }

  // verdictOf returns the one-line verdict and a tone for an answer with an
  // address (match exact or nearest).
  function verdictOf(a) {
    var tech = (a.technology || '').toUpperCase();
    var st = a.state || (a.served === false ? 'none' : 'active');
    var served = typeof a.served === 'boolean' ? a.served : (st === 'active' || st === 'ready_for_sale');
    var speeds = speedsText(a.max_download_mbps, a.max_upload_mbps);
    if (!tech || tech === 'NONE' || tech === 'UNKNOWN') return { text: t('verdictNone'), tone: 'none' };
    if (!served) {
      return { text: t('verdictNotYet', tech, tv('rollout', st), a.state_since ? t('stateSince', fmtDate(a.state_since)) : ''), tone: 'none' };
    }
    var since = a.state_since ? t(st === 'ready_for_sale' ? 'orderableSince' : 'activeSince', fmtDate(a.state_since)) : '';
    if (COVERED[tech]) {
      var words = I18N[lang].techCovered[tech] || tech;
      return { text: t('verdictCovered', words, speeds, since), tone: FIBRE[tech] ? 'fibre' : 'partial' };
    }
    return { text: t('verdictCopperOnly', tech, speeds), tone: 'none' };
  }

  function placeOf(addr) {
    if (!addr) return '';
    var label = addr.label || [addr.street, addr.number].filter(Boolean).join(' ');
    var suffix = ', ' + addr.hamlet;
    if (addr.hamlet && label !== addr.hamlet && label.slice(-suffix.length) !== suffix) label += suffix;
    return label;
  }

  function detailsList(a) {
    var dl = el('dl', { class: 'answer-details' });
    var add = function (k, v, attr) {
      if (v === undefined || v === null || v === '') return;
      var dd = el('dd', { text: v });
      if (attr) dd.setAttribute('data-field', attr);
      dl.appendChild(el('dt', { text: k }));
      dl.appendChild(dd);
    };
    if (a.class) add(t('dClass'), tv('class', a.class), 'class');
    if (a.white_area !== undefined || a.area_class) {
      var cls = a.area_class ? tv('area', a.area_class) : '';
      add(t('dWhite'), a.white_area ? t('dWhiteYes', cls) : t('dWhiteNo', cls), 'white_area');
    }
    if (a.technology) add(t('dTech'), a.technology, 'technology');
    if (isNum(a.max_download_mbps)) add(t('dSpeed'), fmtMbps(a.max_download_mbps) + (isNum(a.max_upload_mbps) ? '/' + fmtMbps(a.max_upload_mbps) : '') + ' Mbit/s', 'speed');
    if (a.state) add(t('dState'), tv('rollout', a.state) + (a.state_since ? t('stateSince', fmtDate(a.state_since)) : ''), 'state');
    if (a.operator) add(t('dOperator'), a.operator, 'operator');
    if (a.address && isNum(a.address.units)) add(t('dUnits'), fmtNum(a.address.units, 0), 'units');
    if (a.address && isNum(a.address.lat) && isNum(a.address.lon)) add(t('dCoords'), a.address.lat.toFixed(5) + ', ' + a.address.lon.toFixed(5), 'coords');
    return dl.children.length ? dl : null;
  }

  function probesSection(list) {
    var sec = el('section', { class: 'probes', 'aria-label': t('probesTitle') }, el('h3', { text: t('probesTitle') }));
    if (!Array.isArray(list) || !list.length) {
      sec.appendChild(el('p', { text: t('probesNone') }));
      return sec;
    }
    var ul = el('ul', { class: 'probe-list' });
    list.forEach(function (p) {
      var st = STATE_COLORS[p.state] ? p.state : 'unknown';
      var head = el('p', { class: 'probe-head' }, [
        el('span', { class: 'state-dot state-' + st, 'aria-hidden': 'true' }),
        el('strong', { text: p.name || p.site_id || '' }),
        ' · ' + [isNum(p.distance_m) ? t('probeDistance', fmtDist(p.distance_m)) : '', p.technology, tv('state', st),
          p.synthetic ? t('probeSynthetic') : '', p.emulated ? t('probeEmulated') : ''].filter(Boolean).join(' · ')
      ]);
      var facts = [];
      if (isNum(p.download_mbps) || isNum(p.upload_mbps)) {
        facts.push(t('probeSpeeds', isNum(p.download_mbps) ? fmtMbps(p.download_mbps) : '–', isNum(p.upload_mbps) ? fmtMbps(p.upload_mbps) : '–'));
      } else {
        facts.push(t('probeNoData'));
      }
      if (isNum(p.rtt_ms)) facts.push(t('probeRTT', fmtNum(p.rtt_ms, 1)));
      if (p.measured_at) facts.push(t('probeMeasured', fmtTime(p.measured_at)));
      ul.appendChild(el('li', { 'data-site-id': p.site_id || '' }, [head, el('p', { class: 'probe-facts', text: facts.join(' · ') })]));
    });
    sec.appendChild(ul);
    return sec;
  }

  function errorText(ans) {
    var b = ans.body || {};
    var msg = typeof b.error === 'string' ? b.error : '';
    if (ans.status === 0) return t('errNetwork');
    if (ans.status === 404) return b.field ? t('errNotFound', msg) : t('errNoLookup', msg);
    if (ans.status >= 400 && ans.status < 500) return t('errInvalid', msg);
    return t('errServer', ans.status);
  }

  function renderAnswer(fresh) {
    var panel = $('#answer');
    var verdict = $('#answer-verdict');
    var body = $('#answer-body');
    var ans = state.answer;
    verdict.replaceChildren();
    body.replaceChildren();
    panel.setAttribute('data-state', ans.kind);
    panel.setAttribute('data-query', ans.query || '');
    panel.removeAttribute('data-match');
    panel.removeAttribute('data-tone');
    panel.setAttribute('aria-busy', ans.kind === 'loading' ? 'true' : 'false');

    if (ans.kind === 'empty') {
      verdict.textContent = t('answerEmpty');
      return;
    }
    if (ans.kind === 'loading') {
      verdict.textContent = t('loading');
      return;
    }
    if (ans.kind === 'input') {
      verdict.textContent = t('searchEmpty');
      panel.setAttribute('data-tone', 'error');
      return;
    }
    if (ans.kind === 'error') {
      verdict.textContent = errorText(ans);
      panel.setAttribute('data-tone', 'error');
      return;
    }

    var a = ans.body;
    var match = a.match || (a.address ? 'exact' : 'outside');
    panel.setAttribute('data-match', match);
    var q = a.query || {};
    var hl = [];

    if (match === 'outside') {
      verdict.appendChild(el('strong', { text: t('verdictOutside') }));
      panel.setAttribute('data-tone', 'outside');
      if (isNum(q.lat) && isNum(q.lon)) hl.push({ lon: q.lon, lat: q.lat, kind: 'query' });
    } else if (match === 'ambiguous') {
      verdict.appendChild(el('strong', { text: t('verdictAmbiguous', q.address || '') }));
      panel.setAttribute('data-tone', 'ambiguous');
      var ul = el('ul', { class: 'candidates', 'aria-label': t('candidatesLabel') });
      (a.candidates || []).forEach(function (c, i) {
        var text = placeOf(c) || String(c.label || '');
        var btn = el('button', { type: 'button', class: 'candidate', 'data-index': i, text: text });
        btn.addEventListener('click', function () {
          if (isNum(c.lat) && isNum(c.lon)) queryPoint(c.lon, c.lat);
          else queryAddress(c.label || text);
        });
        ul.appendChild(el('li', null, btn));
        hl.push({ lon: c.lon, lat: c.lat, kind: 'candidate', label: String(i + 1) });
      });
      body.appendChild(ul);
    } else {
      var v = verdictOf(a);
      panel.setAttribute('data-tone', v.tone);
      verdict.appendChild(el('strong', { class: 'verdict-text', text: v.text }));
      var place = placeOf(a.address);
      if (place) verdict.appendChild(el('span', { class: 'verdict-place', text: ' — ' + place }));
      if (match === 'nearest' && a.address) {
        body.appendChild(el('p', { class: 'nearest-note', text: t('nearestLine', place, isNum(a.distance_m) ? fmtDist(a.distance_m) : '') }));
      }
      var dl = detailsList(a);
      if (dl) body.appendChild(dl);
      body.appendChild(probesSection(a.nearest_probes));
      if (a.address) hl.push({ lon: a.address.lon, lat: a.address.lat, kind: 'address', label: a.address.label || '' });
      if (match === 'nearest' && isNum(q.lat) && isNum(q.lon)) hl.push({ lon: q.lon, lat: q.lat, kind: 'query' });
    }
    if (a.synthetic === true || (a.address && a.address.synthetic === true)) {
      body.appendChild(el('p', { class: 'synthetic-warning', role: 'note', id: 'answer-synthetic', text: t('syntheticWarning') }));
    }
    if (a.message) body.appendChild(el('p', { class: 'service-note', text: t('serviceNote', String(a.message)) }));
    setHighlights(hl, fresh);
  }

  // ---------------------------------------------------------------------
  // Legend.

  function swatch(children) {
    return sv('svg', { class: 'swatch', width: 22, height: 16, viewBox: '-11 -8 22 16', 'aria-hidden': 'true' }, children);
  }

  function buildLegend() {
    var list = $('#legend-list');
    list.replaceChildren();
    var group = function (title, items) {
      var ul = el('ul');
      items.forEach(function (it) { ul.appendChild(el('li', null, [swatch(it[0]), el('span', { text: it[1] })])); });
      list.appendChild(el('li', { class: 'legend-group' }, [el('span', { class: 'legend-group-title', text: title }), ul]));
    };
    group(t('legendAddresses'), ['vhcn', 'nga', 'adequate', 'below'].map(function (c) {
      return [sv('circle', { r: 5, fill: CLASS_COLORS[c], stroke: '#fff', 'stroke-width': 1.5 }), tv('class', c)];
    }));
    group(t('legendSites'), ['up', 'down', 'silent', 'unknown'].map(function (s) {
      return [[sv('rect', { x: -5, y: -5, width: 10, height: 10, rx: 1.5, transform: 'rotate(45)', fill: STATE_COLORS[s], stroke: '#fff', 'stroke-width': 1.5 }),
        sv('text', { y: 3, 'text-anchor': 'middle', 'font-size': 8, fill: '#fff', 'font-weight': 700, text: STATE_GLYPH[s] })], tv('state', s)];
    }));
    group(t('legendOther'), [
      [sv('rect', { x: -10, y: -7, width: 20, height: 14, fill: 'url(#hatch-legend)', stroke: '#5d4037', 'stroke-dasharray': '3 2' }), t('legendWhite')],
      [sv('rect', { x: -10, y: -7, width: 20, height: 14, fill: '#eef3f8', stroke: '#263238', 'stroke-width': 2 }), t('legendComune')],
      [[sv('circle', { r: 4, fill: '#263238', stroke: '#fff', 'stroke-width': 1.5 })], t('legendHamlet')],
      [sv('circle', { r: 6.5, fill: 'none', stroke: '#455a64', 'stroke-dasharray': '2 2' }), t('legendEstimated')],
      [[sv('circle', { r: 6.5, fill: 'none', stroke: '#6a1b9a', 'stroke-width': 2.5 }), sv('circle', { r: 1.8, fill: '#6a1b9a' })], t('legendHighlight')]
    ]);
  }

  // ---------------------------------------------------------------------
  // Controls.

  function setupControls() {
    $('#lang-toggle').addEventListener('click', function () { setLang(lang === 'it' ? 'en' : 'it'); });

    $('#search-form').addEventListener('submit', function (e) {
      e.preventDefault();
      var q = $('#search-input').value.trim();
      if (!q) {
        state.answer = { kind: 'input' };
        renderAnswer();
        $('#search-input').focus();
        return;
      }
      queryAddress(q);
    });

    $$('[data-layer-toggle]').forEach(function (box) {
      box.addEventListener('change', function () {
        var name = box.getAttribute('data-layer-toggle');
        if (name === 'tiles') { drawTiles(); applyLayerVisibility('tiles'); return; }
        applyLayerVisibility(name);
        updateBadge();
        hideTooltip();
      });
    });

    $('#zoom-in').addEventListener('click', function () { zoomAt(1.6); });
    $('#zoom-out').addEventListener('click', function () { zoomAt(1 / 1.6); });
    $('#zoom-reset').addEventListener('click', function () { if (proj) fitView(); });

    svg.addEventListener('wheel', function (e) {
      if (!view) return;
      e.preventDefault();
      var dy = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY;
      var f = Math.exp(-Math.max(Math.min(dy, 300), -300) * 0.0025);
      var p = clientToMap(e.clientX, e.clientY);
      zoomAt(f, p[0], p[1]);
    }, { passive: false });

    var drag = null;
    svg.addEventListener('pointerdown', function (e) {
      if (!view || (e.pointerType === 'mouse' && e.button !== 0)) return;
      drag = { id: e.pointerId, x: e.clientX, y: e.clientY, cx: view.cx, cy: view.cy, moved: false };
    });
    svg.addEventListener('pointermove', function (e) {
      if (drag && drag.id === e.pointerId) {
        var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
        if (!drag.moved && Math.abs(dx) + Math.abs(dy) > 5) {
          drag.moved = true;
          try { svg.setPointerCapture(e.pointerId); } catch (err) { /* pointer gone */ }
          svg.classList.add('dragging');
          hideTooltip();
        }
        if (drag.moved) {
          view.fitted = false;
          view.cx = drag.cx - dx * view.s;
          view.cy = drag.cy - dy * view.s;
          applyView();
        }
        return;
      }
      if (e.pointerType === 'mouse') {
        var fe = featureElement(e.target);
        if (fe) showTooltip(+fe.getAttribute('data-fid'), e.clientX, e.clientY);
        else if (tipFid !== null) hideTooltip();
      }
    });
    var endDrag = function (e) {
      if (!drag || drag.id !== e.pointerId) return;
      var d = drag;
      drag = null;
      svg.classList.remove('dragging');
      if (e.type === 'pointerup' && !d.moved) {
        var fe = featureElement(e.target);
        if (fe && fe.hasAttribute('data-lon')) {
          queryPoint(+fe.getAttribute('data-lon'), +fe.getAttribute('data-lat'));
        } else {
          var p = clientToMap(e.clientX, e.clientY);
          var ll = unproject(p[0], p[1]);
          queryPoint(ll[0], ll[1]);
        }
      }
    };
    svg.addEventListener('pointerup', endDrag);
    svg.addEventListener('pointercancel', endDrag);
    svg.addEventListener('pointerleave', function (e) { if (e.pointerType === 'mouse' && !drag) hideTooltip(); });

    svg.addEventListener('focusin', function (e) {
      var fe = featureElement(e.target);
      if (!fe) { hideTooltip(); return; }
      var r = fe.getBoundingClientRect();
      showTooltip(+fe.getAttribute('data-fid'), r.left + r.width / 2, r.top + r.height / 2);
    });
    svg.addEventListener('focusout', function () { hideTooltip(); });

    svg.addEventListener('keydown', function (e) {
      if (!view) return;
      var step = 60;
      var fe = featureElement(e.target);
      switch (e.key) {
      case 'Enter':
      case ' ':
        if (fe && fe.hasAttribute('data-lon')) {
          e.preventDefault();
          queryPoint(+fe.getAttribute('data-lon'), +fe.getAttribute('data-lat'));
        }
        return;
      case 'ArrowLeft': panBy(-step, 0); break;
      case 'ArrowRight': panBy(step, 0); break;
      case 'ArrowUp': panBy(0, -step); break;
      case 'ArrowDown': panBy(0, step); break;
      case '+': case '=': zoomAt(1.6); break;
      case '-': case '_': zoomAt(1 / 1.6); break;
      case '0': fitView(); break;
      case 'Escape': hideTooltip(); return;
      default: return;
      }
      e.preventDefault();
    });

    if (window.ResizeObserver) {
      new ResizeObserver(onResize).observe(svg);
    } else {
      window.addEventListener('resize', onResize);
    }
  }

  // ---------------------------------------------------------------------
  // Start.

  function refreshSites() {
    if (document.hidden) return;
    loadLayer('sites').then(function (st) {
      if (st.status === 'unavailable' && state.layers.sites && state.layers.sites.status === 'ok') return; // keep the last good one
      state.layers.sites = st;
      state.sitesUpdated = new Date();
      var hadTip = tipFid !== null && state.features[tipFid] && state.features[tipFid].layer === 'sites';
      // Re-register every layer so fids stay consistent; cheap at this size.
      drawAll();
      if (hadTip) hideTooltip();
      updateLayerNotes();
      updateMapUpdated();
    });
  }

  function init() {
    if (cfg.tileURL) {
      $('#layer-tiles-label').hidden = false;
      var ta = $('#tile-attribution');
      ta.hidden = !ta.textContent.trim();
      mapEl.classList.add('has-tiles');
    }
    applyLang();
    buildLegend();
    renderAnswer();
    setupControls();
    setStatus(t('mapLoading'));
    Promise.all(DATA_LAYERS.map(loadLayer)).then(function (results) {
      DATA_LAYERS.forEach(function (n, i) { state.layers[n] = results[i]; });
      allPromise = null;
      state.sitesUpdated = new Date();
      setupProjection();
      fitView();
      drawAll();
      updateLayerNotes();
      updateMapUpdated();
      var failed = DATA_LAYERS.every(function (n) { return state.layers[n].status === 'unavailable'; });
      setStatus(failed ? t('mapFailed', state.layers.comune.code || '') : '');
      mapEl.setAttribute('data-ready', 'true');
      window.setInterval(refreshSites, SITES_REFRESH_MS);
      // Back from another tab: show the sites as they are now.
      document.addEventListener('visibilitychange', function () { if (!document.hidden) refreshSites(); });
    }).catch(function (e) {
      setStatus(t('mapFailed', String(e && e.message || e)));
      mapEl.setAttribute('data-ready', 'error');
    });
  }

  init();
}());
