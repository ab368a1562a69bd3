// 尺码对照表: where the knowledge base's 尺码 card (pages/size-guide/index) lands. The chart itself is the
// store's picture, served by the chatshop server, so the store changes it without a new release.
const client = require('../../utils/client');

Component({
  data: { image: '' },
  methods: {
    onLoad() {
      this.setData({ image: client.imageUrl('/images/demo/size-guide.jpg') });
    },
    onPreview() {
      wx.previewImage({ urls: [this.data.image] });
    },
  },
});
